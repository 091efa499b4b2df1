/**
 * Writes responses to the client: the upstream's response streamed as it arrives (never
 * buffered: each chunk is written when it comes, with backpressure), or a gateway error as JSON.
 * Fills the exchange's times and byte counts on the way.
 */
import type { ServerResponse } from 'node:http';
import { MlgateError } from '../../core/errors.ts';
import type { Outcome } from '../../telemetry/event.ts';
import { isEventStream, outcomeForStatus, type RelayEnd } from './relay-end.ts';
import type { BodyTranslator, StreamTranslator } from './providers/provider.ts';
import { relayTranslated } from './relay-translated.ts';
import { GatewayErrors } from '../errors.ts';
import type { Exchange } from './exchange-record.ts';
import { errorCode } from './forward.ts';
import { filterResponseHeaders } from './header-policy.ts';
import type { BodySink, UpstreamCall } from './upstream-call.ts';
import { UsageStripper } from './sse-usage.ts';
import { TokenTimer } from './sse-tokens.ts';

const TIMEOUT_CODES = new Set(['UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

// How a relay ends is shared with relay-translated.ts; re-exported for existing callers.
export { isEventStream, outcomeForStatus, type RelayEnd } from './relay-end.ts';

/**
 * Streams `up` to `res`. The upstream's headers go through the model's response-header list
 * (header-policy.ts); `extra` headers are added (they win over the upstream's). Calls `onEnd`
 * exactly once: when the last byte was handed to the socket, the upstream failed mid-body, or
 * the client went away. With a provider adapter's `translator` the answer is translated on its
 * way (relay-translated.ts).
 */
export function relay(
  res: ServerResponse, up: UpstreamCall, x: Exchange, extra: Record<string, string>, onEnd: (e: RelayEnd) => void,
  translator?: StreamTranslator | BodyTranslator,
): void {
  if (translator) return relayTranslated(res, up, x, extra, translator, onEnd);
  const headers = up.headers as Record<string, string | string[] | undefined>;
  filterResponseHeaders(headers, x.modelConfig?.responseHeaders);
  for (const k in extra) headers[k] = extra[k];
  x.status = up.statusCode;
  const ct = headers['content-type'];
  x.responseContentType = typeof ct === 'string' ? ct : undefined;
  // Usage the gateway asked for comes out of the client's stream (sse-usage.ts); the length changes.
  const sse = up.statusCode === 200 && isEventStream(x.responseContentType);
  const strip = x.stripUsage && sse ? new UsageStripper() : undefined;
  // Token timing for an LLM stream (an OpenAI route's SSE answer): sse-tokens.ts.
  if (sse && x.upstreamModel !== '') x.tokenTimer = new TokenTimer();
  if (strip) delete headers['content-length'];
  res.writeHead(up.statusCode, headers as Record<string, string | string[]>);
  new Relay(res, up, x, onEnd, strip);
}


/**
 * One response being relayed. A class with prototype methods rather than per-request named
 * closures: on the hot path each named closure costs an allocation (and, under tsx's keepNames,
 * a defineProperty call).
 */
class Relay implements BodySink {
  private ended = false;

  constructor(
    private readonly res: ServerResponse, private readonly up: UpstreamCall, private readonly x: Exchange, private readonly onEnd: (e: RelayEnd) => void,
    private readonly strip?: UsageStripper,
  ) {
    res.on('close', () => this.onClose());
    res.on('drain', () => up.resume());
    up.pipe(this);
  }

  data(chunk: Buffer): boolean {
    const x = this.x;
    // The capture keeps what the upstream sent (usage included), the client gets `out`.
    x.capture?.add(chunk);
    // Timed on the upstream's bytes (the usage chunk carries no output, so stripping changes nothing).
    x.tokenTimer?.push(chunk, performance.now());
    const out = this.strip ? this.strip.push(chunk) : chunk;
    if (out === undefined) return true;
    if (x.tFirstByte === 0) x.tFirstByte = performance.now();
    x.responseBytes += out.length;
    return this.res.write(out);
  }

  end(): void {
    const x = this.x;
    x.tUpstreamEnd = performance.now();
    x.tokenTimer?.end(x.tUpstreamEnd);
    const rest = this.strip?.end();
    if (rest) {
      x.responseBytes += rest.length;
      this.res.write(rest);
    }
    if (this.strip?.gaveUp) x.usageStripGaveUp = true;
    if (x.tFirstByte === 0) x.tFirstByte = x.tUpstreamEnd;
    this.res.end(() => this.finish(outcomeForStatus(this.up.statusCode), this.up.statusCode >= 400 ? `http_${this.up.statusCode}` : ''));
  }

  error(err: Error): void {
    if (this.ended) return;
    this.x.tUpstreamEnd = performance.now();
    const code = errorCode(err);
    this.res.destroy(); // the status line is out: the client learns of the failure by a cut stream
    if (TIMEOUT_CODES.has(code)) this.finish('timeout', GatewayErrors.upstreamTimeout.code);
    else this.finish('upstream_error', code || GatewayErrors.upstreamError.code);
  }

  private onClose(): void {
    if (this.ended) return;
    this.finish('client_closed', 'client_closed');
    this.up.destroy(); // undici reports the abort to error() at once: already ended, ignored
  }

  private finish(outcome: Outcome, errorClass: string): void {
    if (this.ended) return;
    this.ended = true;
    this.x.tEnd = performance.now();
    this.onEnd({ outcome, errorClass });
  }
}

/** Sends a gateway error as `{ error: { code, message, details? } }` with its status. */
export function sendError(res: ServerResponse, x: Exchange, err: unknown, extra: Record<string, string>): void {
  const e = err instanceof MlgateError ? err : GatewayErrors.internal('unexpected gateway failure', { cause: err });
  x.status = e.statusCode;
  x.errorClass = e.code;
  if (res.headersSent || res.destroyed) {
    res.destroy();
    x.tEnd = performance.now();
    return;
  }
  const payload = Buffer.from(JSON.stringify(e.toJSON()));
  x.responseBytes = payload.length;
  res.writeHead(e.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length), ...extra });
  res.end(payload);
  x.tEnd = performance.now();
}
