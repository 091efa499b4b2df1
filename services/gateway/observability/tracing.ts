/**
 * Tracing without auto-instrumentation (the OpenTelemetry http/undici instrumentations
 * halve throughput; docs/gateway.md). Per request: parse the incoming W3C `traceparent` by hand, decide sampling from
 * its sampled flag or, without a parent, from `sampleRatio`, and only for sampled requests start
 * one SERVER span through the OpenTelemetry API. Every request, sampled or not, keeps the
 * incoming trace id (or a fresh one), gets its own span id, and sends
 * `traceparent: 00-<trace id>-<span id>-<flags>` upstream; both ids go into the event.
 * Unsampled ids come from a pooled random buffer (no SDK call).
 */
import { randomHex } from '../proxy/ids.ts';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';

export { randomHex };

/** A parsed `traceparent`. */
export interface TraceParent {
  traceId: string;
  parentId: string;
  sampled: boolean;
}

const HEX = /^[0-9a-f]+$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);

/** Parses a W3C traceparent header; undefined when absent or invalid. */
export function parseTraceparent(h: string | string[] | undefined): TraceParent | undefined {
  if (typeof h !== 'string' || h.length < 55) return undefined;
  const version = h.slice(0, 2);
  if (h[2] !== '-' || h[35] !== '-' || h[52] !== '-' || version === 'ff' || !HEX.test(version)) return undefined;
  if (version === '00' && h.length !== 55) return undefined;
  const traceId = h.slice(3, 35);
  const parentId = h.slice(36, 52);
  const flags = h.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(parentId) || !HEX.test(flags) || traceId === ZERO32 || parentId === ZERO16) return undefined;
  return { traceId, parentId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** The trace of one request. */
export interface TraceHandle {
  readonly traceId: string;
  readonly spanId: string;
  /** Sampled flag sent upstream (true when this gateway records a span or the parent was sampled). */
  readonly sampled: boolean;
  /** The SERVER span, for sampled requests with a tracer. */
  readonly span: Span | undefined;
}

/** What the span's end records. */
export interface SpanResult {
  status: number;
  outcome: string;
  model: string;
  version: string;
  role: string;
}

/** Options of {@link RequestTracer}. */
export interface RequestTracerOptions {
  /** Where spans go; undefined = propagate ids only, record no spans. */
  provider?: TracerProvider | undefined;
  /** Share of parentless requests sampled, 0..1. */
  sampleRatio: number;
  /** Random source in [0,1); default Math.random. */
  random?: () => number;
}

/** Per-request tracing decisions. */
export class RequestTracer {
  private readonly tracer: Tracer | undefined;
  private readonly ratio: number;
  private readonly random: () => number;

  constructor(opts: RequestTracerOptions) {
    if (!(opts.sampleRatio >= 0 && opts.sampleRatio <= 1)) throw new Error('tracing: sampleRatio must be in [0, 1]');
    this.tracer = opts.provider?.getTracer('mlgate-gateway');
    this.ratio = opts.sampleRatio;
    this.random = opts.random ?? Math.random;
  }

  /** Starts a request's trace (a span only when sampled). */
  begin(traceparent: string | string[] | undefined, name: string): TraceHandle {
    const parent = parseTraceparent(traceparent);
    const sampled = parent ? parent.sampled : this.ratio > 0 && this.random() < this.ratio;
    if (sampled && this.tracer) {
      const ctx = parent
        ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: 1, isRemote: true })
        : ROOT_CONTEXT;
      const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER }, ctx);
      if (span.isRecording()) {
        const sc = span.spanContext();
        return { traceId: sc.traceId, spanId: sc.spanId, sampled: true, span };
      }
      span.end(); // a no-op provider: fall through to plain propagation
    }
    // Not recorded here; a parent's sampled flag still travels on so the upstream keeps its decision.
    if (parent) return { traceId: parent.traceId, spanId: randomHex(8), sampled: parent.sampled, span: undefined };
    const ids = randomHex(24); // one draw for both ids
    return { traceId: ids.slice(0, 32), spanId: ids.slice(32), sampled: false, span: undefined };
  }

  /** The traceparent to send upstream. */
  static header(h: TraceHandle): string {
    return `00-${h.traceId}-${h.spanId}-${h.sampled ? '01' : '00'}`;
  }

  /** Ends the span, if any, with the request's result. */
  static end(h: TraceHandle, r: SpanResult): void {
    const span = h.span;
    if (!span) return;
    span.setAttributes({
      'http.response.status_code': r.status, 'mlgate.outcome': r.outcome, 'mlgate.model': r.model,
      'mlgate.version': r.version, 'mlgate.role': r.role,
    });
    if (r.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: r.outcome });
    span.end();
  }
}
