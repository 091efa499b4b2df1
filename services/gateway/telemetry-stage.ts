/**
 * Builds each request's telemetry event and hands it to the sink, after the response is sent
 * (setImmediate), so hashing, redaction and JSON parsing never add to client latency. The sink's
 * `emit` is never awaited. {@link TelemetryStage.drain} waits for events still being built.
 */
import type { Logger } from '../core/log.ts';
import { SCHEMA_VERSION, type TelemetryEvent } from '../telemetry/event.ts';
import type { Hasher } from '../telemetry/hash.ts';
import type { Redactor } from '../telemetry/redact.ts';
import type { TelemetrySink } from '../telemetry/sink.ts';
import type { Exchange, InputDigest } from './exchange.ts';
import { extractPrediction, maskPath, splitPath } from './json-path.ts';
import { usageOf, usageOfSse, type TokenUsage } from './usage.ts';

const MAX_INPUT_CHARS = 65536;
const isJsonType = (ct: string | undefined): boolean => ct === undefined || /json/i.test(ct);

/** Options of {@link TelemetryStage}. */
export interface TelemetryStageOptions {
  sink: TelemetrySink;
  hasher: Hasher;
  redactor: Redactor;
  gatewayId: string;
  logger: Logger;
}

/** Turns finished exchanges into events. */
export class TelemetryStage {
  private pending = 0;
  private waiters: Array<() => void> = [];
  private readonly pathCache = new Map<string, string[]>();

  constructor(private readonly opts: TelemetryStageOptions) {}

  /** Events scheduled but not yet handed to the sink. */
  get backlog(): number {
    return this.pending;
  }

  /** Schedules the event of a finished exchange. Never throws. */
  submit(x: Exchange): void {
    this.pending++;
    setImmediate(() => {
      try {
        this.opts.sink.emit(this.build(x));
      } catch (err) {
        this.opts.logger.error({ err, model: x.model, event_id: x.eventId }, 'telemetry event could not be built');
      } finally {
        if (--this.pending === 0) for (const w of this.waiters.splice(0)) w();
      }
    });
  }

  /** Resolves when every submitted event has reached the sink. */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Builds the event (exported for tests through the class). */
  build(x: Exchange): TelemetryEvent {
    const digest = this.input(x);
    let outputHash = '';
    let label: string | null = null;
    let score: number | null = null;
    let usage: TokenUsage | undefined;
    const cap = x.capture;
    const body = cap?.body();
    if (cap && body && body.length > 0) {
      const ct = x.responseContentType;
      if (ct && /text\/event-stream/i.test(ct)) {
        outputHash = this.opts.hasher.hashPayload(body, ct);
        usage = usageOfSse(body.toString('utf8'));
      } else {
        let parsed: unknown;
        let isJson = false;
        if (isJsonType(ct)) {
          try {
            parsed = JSON.parse(body.toString('utf8'));
            isJson = true;
          } catch { /* not JSON after all */ }
        }
        outputHash = isJson ? this.opts.hasher.hashValue(parsed) : this.opts.hasher.hashPayload(body, ct);
        if (isJson) {
          usage = usageOf(parsed);
          const p = x.modelConfig?.prediction;
          if (p) ({ label, score } = extractPrediction(parsed, { label: p.label ? this.path(p.label) : undefined, score: p.score ? this.path(p.score) : undefined }));
        }
      }
    } else if (cap && cap.overflow && x.responseContentType && /text\/event-stream/i.test(x.responseContentType)) {
      usage = usageOfSse(cap.tail().toString('utf8'));
    }
    const upstreamEnd = x.tUpstreamEnd || x.tHeaders;
    return {
      event_id: x.eventId,
      ts: x.ts,
      gateway_id: this.opts.gatewayId,
      route: x.route.slice(0, 500),
      model: x.model.slice(0, 200),
      version: x.version,
      role: x.role,
      rollout_id: x.rolloutId,
      consumer_id: x.consumerId,
      method: x.method.slice(0, 16),
      status: x.status,
      outcome: x.outcome,
      error_class: x.errorClass.slice(0, 200),
      latency_ms: x.since(x.tEnd) ?? 0,
      upstream_latency_ms: x.tUpstream > 0 && upstreamEnd > 0 ? Math.round((upstreamEnd - x.tUpstream) * 1000) / 1000 : null,
      ttfb_ms: x.since(x.tFirstByte),
      request_bytes: x.requestBytes,
      response_bytes: x.responseBytes,
      input_hash: digest.hash,
      output_hash: outputHash,
      hash_key_id: this.opts.hasher.keyId,
      input_redacted: digest.redacted,
      redactions: digest.redactions,
      prediction_label: label,
      prediction_score: score,
      tokens_in: usage?.tokensIn ?? null,
      tokens_out: usage?.tokensOut ?? null,
      correlation_id: x.correlationId,
      trace_id: x.trace?.traceId ?? '',
      span_id: x.trace?.spanId ?? '',
      cache: '',
      schema_version: SCHEMA_VERSION,
    };
  }

  private path(p: string): string[] {
    let s = this.pathCache.get(p);
    if (!s) this.pathCache.set(p, (s = splitPath(p)));
    return s;
  }

  /** Hash and redacted text of the request body, computed once per request (shared with shadows). */
  private input(x: Exchange): InputDigest {
    if (x.digest.value) return x.digest.value;
    const body = x.requestBody;
    let d: InputDigest = { hash: '', redacted: '', redactions: {} };
    if (body && body.length > 0) {
      const ct = x.requestContentType;
      const parsed = x.requestJson;
      const hash = parsed !== undefined ? this.opts.hasher.hashValue(parsed) : this.opts.hasher.hashPayload(body, ct);
      d = { hash, redacted: '', redactions: {} };
      const red = x.modelConfig?.redaction;
      if (!red || red.storeInput) {
        let text: Buffer | string = body;
        const counts: Record<string, number> = {};
        if (red && red.maskPaths.length > 0 && parsed !== undefined && typeof parsed === 'object' && parsed !== null) {
          const copy: unknown = structuredClone(parsed);
          let masked = 0;
          for (const p of red.maskPaths) masked += maskPath(copy, this.path(p), '<MASKED>');
          if (masked > 0) counts.MASKED = masked;
          text = JSON.stringify(copy);
        }
        const r = this.opts.redactor.redact(text, ct);
        for (const [k, v] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + v;
        d = { hash, redacted: r.text.slice(0, MAX_INPUT_CHARS), redactions: counts };
      }
    }
    x.digest.value = d;
    return d;
  }
}
