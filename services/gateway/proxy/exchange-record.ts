/**
 * The record of one proxied request (or shadow copy): everything its telemetry event and its
 * metrics need, filled in as the request goes. Times are `performance.now()` values.
 */
import type { Outcome, Role } from '../../telemetry/event.ts';
import type { ModelConfig } from '../config.ts';
import type { TraceHandle } from '../observability/tracing.ts';
import type { TokenTimer } from './sse-tokens.ts';
import type { TokenHold } from './edge-hooks.ts';

/** The `route` of a request that matched no route (its path is the client's, so never stored). */
export const UNMATCHED_ROUTE = 'unmatched';
/** The `model` of events and the model label of metrics for a name that is not configured. */
export const UNKNOWN_MODEL = 'unknown';

/** Keeps response bytes (up to a cap) off the client path for the output hash and usage. */
export class ResponseCapture {
  private chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte seen. */
  bytes = 0;
  /** True when the response was larger than the cap (then only a tail is kept). */
  overflow = false;

  constructor(private readonly max: number, private readonly tailMax = 64 * 1024) {}

  /** Adds one chunk (a reference, not a copy). */
  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.chunks.push(chunk);
    this.kept += chunk.length;
    if (!this.overflow && this.kept > this.max) this.overflow = true;
    if (this.overflow) {
      while (this.chunks.length > 1 && this.kept - this.chunks[0]!.length >= this.tailMax) this.kept -= this.chunks.shift()!.length;
    }
  }

  /** The whole body, or undefined when it overflowed. */
  body(): Buffer | undefined {
    if (this.overflow) return undefined;
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept);
  }

  /** The last bytes kept (the whole body when it fit). */
  tail(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept);
  }
}

/** One request's record. */
export class Exchange {
  readonly eventId: string;
  /** Request start, ms since the epoch. */
  readonly ts: number;
  /** Request start, performance.now(). */
  readonly t0: number;
  /** The route template matched (`/v1/models/{model}/predict`, ...) or `unmatched`; never the raw path. */
  route = '';
  method = '';
  /** A configured model name, '' until the request's model is known to be served here. */
  model = '';
  version = '';
  role: Role = 'stable';
  rolloutId = '';
  consumerId = '';
  status = 0;
  outcome: Outcome = 'ok';
  errorClass = '';
  /** Upstream request sent / response headers / first body byte / response end. */
  tUpstream = 0;
  tHeaders = 0;
  tFirstByte = 0;
  tUpstreamEnd = 0;
  tEnd = 0;
  requestBytes = 0;
  responseBytes = 0;
  requestBody: Buffer | undefined;
  requestContentType: string | undefined;
  /** Parsed request JSON when the hot path parsed it anyway. */
  requestJson: unknown;
  responseContentType: string | undefined;
  capture: ResponseCapture | undefined;
  modelConfig: ModelConfig | undefined;
  trace: TraceHandle | undefined;
  correlationId = '';
  /** Response cache result: '' when the version does not cache. */
  cache: '' | 'hit' | 'miss' = '';
  /** The `model` the upstream got on an OpenAI route ('' on other routes). */
  upstreamModel = '';
  /** The gateway asked the upstream for stream usage the client did not ask for: strip it. */
  stripUsage = false;
  /** An SSE event too large to rewrite made the stripping stop (the client saw the usage). */
  usageStripGaveUp = false;
  /** Token timing of a streamed answer on an OpenAI route (sse-tokens.ts); unset otherwise. */
  tokenTimer: TokenTimer | undefined;
  /** Tokens reserved against token budgets (edge), settled when the request ends. */
  tokenHold: TokenHold | undefined;

  constructor(eventId: string, ts: number, t0: number) {
    this.eventId = eventId;
    this.ts = ts;
    this.t0 = t0;
  }

  /** Milliseconds from t0 to `t` (null when `t` never happened), 3 decimals. */
  since(t: number): number | null {
    return t > 0 ? Math.max(0, Math.round((t - this.t0) * 1000) / 1000) : null;
  }
}
