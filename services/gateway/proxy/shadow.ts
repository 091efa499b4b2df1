/**
 * Shadow copies: for a configured share of a model's requests, the same request goes to the
 * shadow version after the primary was dispatched (setImmediate), its response is read and
 * discarded, and it gets its own event (role `shadow`, `correlation_id` = the primary's
 * event_id). Nothing here touches the client's response. Bounded by `shadowMaxInFlight`; a
 * skipped copy is counted in `mlgate_gateway_shadow_skipped_total{reason}`.
 */
import type { Logger } from '../../core/log.ts';
import { eventId } from './ids.ts';
import { Exchange, ResponseCapture } from './exchange-record.ts';
import { forward, upstreamFailure, type ForwardRequest } from './forward.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { ModelRuntime } from '../routing/model-runtime.ts';
import type { VersionUpstream } from './upstreams.ts';
import type { Permit } from '../routing/breaker.ts';
import { isEventStream, outcomeForStatus } from './relay.ts';
import { TokenTimer } from './sse-tokens.ts';
import { outcomeOf } from '../errors.ts';
import { TranslatedCapture } from './translated-capture.ts';
import type { TelemetryStage } from '../../telemetry/event-stage.ts';
import { recordOf } from '../observability/event-record.ts';
import { RequestTracer, randomHex } from '../observability/tracing.ts';

/** Options of {@link ShadowSender}. */
export interface ShadowOptions {
  maxInFlight: () => number;
  captureMaxBytes: () => number;
  metrics: GatewayMetrics;
  telemetry: TelemetryStage;
  logger: Logger;
}

/** Sends shadow copies. */
export class ShadowSender {
  private inflight = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: ShadowOptions) {}

  /** Copies in flight. */
  get active(): number {
    return this.inflight;
  }

  /** Decides whether `primary` gets a shadow copy and, if so, schedules it. */
  maybe(rt: ModelRuntime, primary: Exchange, req: ForwardRequest): void {
    const s = rt.config.shadow;
    if (!s || s.percent <= 0 || Math.random() * 100 >= s.percent) return;
    if (this.inflight >= this.opts.maxInFlight()) return this.skip(rt, 'saturated');
    const v = rt.versions.get(s.version);
    if (!v || rt.isTripped(s.version)) return this.skip(rt, 'tripped');
    if (v.availability() !== 'ok') return this.skip(rt, 'unavailable');
    const permit = v.breaker.acquire();
    if (!permit) return this.skip(rt, 'unavailable');
    this.inflight++;
    const x = new Exchange(eventId(), Date.now(), performance.now());
    x.route = primary.route;
    x.method = primary.method;
    x.model = primary.model;
    x.version = v.name;
    x.role = 'shadow';
    x.rolloutId = primary.rolloutId;
    x.consumerId = primary.consumerId;
    x.correlationId = primary.eventId;
    x.requestBody = primary.requestBody;
    x.requestBytes = primary.requestBytes;
    x.requestContentType = primary.requestContentType;
    x.requestJson = primary.requestJson;
    x.modelConfig = primary.modelConfig;
    // An LLM route's copy goes to the shadow version's own upstream model (forward.ts rewrites it).
    if (primary.upstreamModel !== '') x.upstreamModel = v.upstreamModel ?? rt.name;
    x.capture = new ResponseCapture(this.opts.captureMaxBytes());
    const traceId = primary.trace?.traceId ?? randomHex(16);
    x.trace = { traceId, spanId: randomHex(8), sampled: false, span: undefined };
    const headers = { ...req.headers, traceparent: RequestTracer.header(x.trace), 'x-mlgate-shadow': '1' };
    setImmediate(() => {
      this.run(x, v, permit, { ...req, headers })
        .catch((err: unknown) => this.opts.logger.error({ err, model: x.model }, 'shadow copy failed unexpectedly'))
        .finally(() => {
          if (--this.inflight === 0) for (const w of this.waiters.splice(0)) w();
        });
    });
  }

  private skip(rt: ModelRuntime, reason: string): void {
    this.opts.metrics.shadowSkipped.labels(rt.name, reason).inc();
  }

  private async run(x: Exchange, v: VersionUpstream, permit: Permit, req: ForwardRequest): Promise<void> {
    // A request the shadow version's provider cannot take is not sent (and is not its failure).
    const refusal = v.provider.refuse(x.route, req.json);
    if (refusal) {
      v.breaker.release(permit);
      [x.status, x.outcome, x.errorClass] = [refusal.statusCode, outcomeOf(refusal), refusal.code];
      return this.done(x);
    }
    x.tUpstream = performance.now();
    let ok = false;
    try {
      const f = await forward(v, req);
      x.tHeaders = performance.now();
      x.status = f.response.statusCode;
      const ct = f.response.headers['content-type'];
      x.responseContentType = typeof ct === 'string' ? ct : undefined;
      // The copy's stream is timed like the primary's (relay.ts), so a shadow's time to first
      // token and inter-token latency can be compared with the version it shadows; a translated
      // stream (Anthropic) is timed on its translation.
      if (x.upstreamModel !== '' && x.status === 200 && isEventStream(x.responseContentType)) x.tokenTimer = new TokenTimer();
      // An adapter that translates answers (Anthropic): the event records the translation.
      const t = v.provider.translator(req, f.response);
      const tc = t ? new TranslatedCapture(t, x) : undefined;
      try {
        await new Promise<void>((resolve, reject) => f.response.pipe({
          data(chunk) {
            const now = performance.now();
            if (x.tFirstByte === 0) x.tFirstByte = now;
            x.responseBytes += chunk.length;
            if (tc) tc.data(chunk, now);
            else {
              x.capture!.add(chunk);
              x.tokenTimer?.push(chunk, now);
            }
            return true;
          },
          end: resolve,
          error: reject,
        }));
        x.tUpstreamEnd = performance.now();
        const upstreamStatus = x.status;
        const failure = tc?.end(upstreamStatus, x.tUpstreamEnd) ?? '';
        x.tokenTimer?.end(x.tUpstreamEnd);
        ok = upstreamStatus < 500 && failure === '';
        x.outcome = failure !== '' ? 'upstream_error' : outcomeForStatus(x.status);
        x.errorClass = failure !== '' ? failure : upstreamStatus >= 400 ? `http_${upstreamStatus}` : '';
      } finally {
        v.balancer.end(f.target, ok);
      }
    } catch (err) {
      const e = upstreamFailure(err, x.model, v.name);
      if (x.status === 0) x.status = e.statusCode;
      x.outcome = outcomeOf(e);
      x.errorClass = e.code;
    } finally {
      v.breaker.record(permit, ok);
      this.done(x);
    }
  }

  /** Counts the copy and hands its event over. */
  private done(x: Exchange): void {
    x.tEnd = performance.now();
    this.opts.metrics.countRequest(x.model, x.version, 'shadow', x.outcome);
    this.opts.metrics.observeDuration(x.model, x.version, 'shadow', (x.tEnd - x.t0) / 1000);
    this.opts.telemetry.submit(recordOf(x));
  }

  /** Resolves when no shadow copy is in flight. */
  drain(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
