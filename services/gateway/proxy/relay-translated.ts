/**
 * Relays an upstream answer that a provider adapter translates (providers/provider.ts), in one of
 * two ways:
 *
 * - a stream: each upstream chunk is translated and written as it comes (with backpressure);
 *   the capture and the token timer get the record (the client's bytes plus a usage chunk the
 *   client did not ask for), so the event has tokens and `ttft_ms` measured on the translated
 *   output. A translation failure ends the client's stream with an error event and stops the
 *   upstream (outcome `upstream_error`, the error class the failure's code).
 * - a whole answer: the body is read to its end (bounded), translated, then written with its
 *   status (an error answer's status mapped, an untranslatable one a 502).
 *
 * Like relay.ts it calls `onEnd` exactly once: when the last byte was handed to the socket, the
 * upstream failed, or the client went away.
 */
import type { ServerResponse } from 'node:http';
import type { Outcome } from '../../telemetry/event.ts';
import { GatewayErrors } from '../errors.ts';
import type { Exchange } from './exchange-record.ts';
import { errorCode } from './forward.ts';
import { filterResponseHeaders } from './header-policy.ts';
import { gatewayError } from './providers/anthropic-response.ts';
import type { BodyTranslator, StreamTranslator, TranslatedChunk } from './providers/provider.ts';
import { outcomeForStatus, type RelayEnd } from './relay-end.ts';
import { TokenTimer } from './sse-tokens.ts';
import type { BodySink, UpstreamCall } from './upstream-call.ts';

const TIMEOUT_CODES = new Set(['UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);
const SSE_TYPE = 'text/event-stream; charset=utf-8';

/** Streams `up` to `res` through `t`; see the file comment. */
export function relayTranslated(
  res: ServerResponse, up: UpstreamCall, x: Exchange, extra: Record<string, string>, t: StreamTranslator | BodyTranslator, onEnd: (e: RelayEnd) => void,
): void {
  const headers = up.headers as Record<string, string | string[] | undefined>;
  filterResponseHeaders(headers, x.modelConfig?.responseHeaders);
  // The body is the gateway's own now: its length, type and encoding are not the upstream's.
  delete headers['content-length'];
  delete headers['content-encoding'];
  delete headers['content-type'];
  for (const k in extra) headers[k] = extra[k];
  if (t.kind === 'stream') {
    x.status = up.statusCode;
    x.responseContentType = SSE_TYPE;
    x.tokenTimer = new TokenTimer();
    headers['content-type'] = SSE_TYPE;
    res.writeHead(up.statusCode, headers as Record<string, string | string[]>);
    new TranslatedStream(res, up, x, onEnd, t);
  } else {
    new TranslatedBody(res, up, x, onEnd, t, headers);
  }
}

/** What both ways share: the end of a relay, once. */
abstract class TranslatedRelay implements BodySink {
  protected ended = false;
  /** The gateway stopped the upstream itself: its abort error is expected, not a failure. */
  protected stopping = false;

  constructor(protected readonly res: ServerResponse, protected readonly up: UpstreamCall, protected readonly x: Exchange, private readonly onEnd: (e: RelayEnd) => void) {
    res.on('close', () => this.onClose());
  }

  abstract data(chunk: Buffer): boolean;
  abstract end(): void;
  abstract error(err: Error): void;

  /** The client went away: anything the event should still record. */
  protected onClientGone(): void {}

  private onClose(): void {
    if (this.ended) return;
    this.onClientGone();
    this.finish('client_closed', 'client_closed');
    this.stopping = true;
    this.up.destroy();
  }

  protected finish(outcome: Outcome, errorClass: string): void {
    if (this.ended) return;
    this.ended = true;
    this.x.tEnd = performance.now();
    this.onEnd({ outcome, errorClass });
  }

  /** Outcome and error class of an upstream failure mid-body. */
  protected static failureOf(err: Error): [Outcome, string] {
    const code = errorCode(err);
    return TIMEOUT_CODES.has(code) ? ['timeout', GatewayErrors.upstreamTimeout.code] : ['upstream_error', code || GatewayErrors.upstreamError.code];
  }
}

/** A translated stream, chunk by chunk. */
class TranslatedStream extends TranslatedRelay {
  constructor(res: ServerResponse, up: UpstreamCall, x: Exchange, onEnd: (e: RelayEnd) => void, private readonly t: StreamTranslator) {
    super(res, up, x, onEnd);
    res.on('drain', () => up.resume());
    up.pipe(this);
  }

  data(chunk: Buffer): boolean {
    if (this.stopping) return true;
    const ok = this.write(this.t.push(chunk));
    if (this.t.failure !== '') {
      // The client's stream ends with the error event just written; the upstream is not read on.
      this.stopping = true;
      this.up.destroy();
      this.close();
    }
    return ok;
  }

  end(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.write(this.t.end());
    this.close();
  }

  error(err: Error): void {
    if (this.ended || this.stopping) return;
    this.x.tUpstreamEnd = performance.now();
    this.res.destroy(); // the status line is out: the client learns of the failure by a cut stream
    this.recordUsageSoFar();
    const [outcome, errorClass] = TranslatedRelay.failureOf(err);
    this.finish(outcome, errorClass);
  }

  protected override onClientGone(): void {
    this.recordUsageSoFar();
  }

  /** The tokens known so far into the record of a stream that ends without its usage chunk. */
  private recordUsageSoFar(): void {
    const u = this.t.usageSoFar();
    if (u) this.x.capture?.add(u);
  }

  private write(c: TranslatedChunk): boolean {
    const x = this.x;
    const now = performance.now();
    if (c.record) {
      x.capture?.add(c.record);
      x.tokenTimer?.push(c.record, now);
    }
    if (!c.client) return true;
    if (x.tFirstByte === 0) x.tFirstByte = now;
    x.responseBytes += c.client.length;
    return this.res.write(c.client);
  }

  private close(): void {
    const x = this.x;
    x.tUpstreamEnd = performance.now();
    x.tokenTimer?.end(x.tUpstreamEnd);
    if (x.tFirstByte === 0) x.tFirstByte = x.tUpstreamEnd;
    const failure = this.t.failure;
    if (failure !== '') this.recordUsageSoFar();
    this.res.end(() => this.finish(failure === '' ? 'ok' : 'upstream_error', failure));
  }
}

/** A whole answer, translated at its end. */
class TranslatedBody extends TranslatedRelay {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(
    res: ServerResponse, up: UpstreamCall, x: Exchange, onEnd: (e: RelayEnd) => void, private readonly t: BodyTranslator,
    private readonly headers: Record<string, string | string[] | undefined>,
  ) {
    super(res, up, x, onEnd);
    up.pipe(this);
  }

  data(chunk: Buffer): boolean {
    if (this.stopping) return true;
    this.bytes += chunk.length;
    if (this.bytes > this.t.maxBytes) {
      // Too large to translate: the translator's own error answer for it, the upstream stopped.
      this.stopping = true;
      this.up.destroy();
      this.chunks = [];
      this.answer(undefined);
      return true;
    }
    this.chunks.push(chunk);
    return true;
  }

  end(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.answer(Buffer.concat(this.chunks, this.bytes));
  }

  error(err: Error): void {
    if (this.ended || this.stopping) return;
    this.stopping = true;
    const [outcome, errorClass] = TranslatedRelay.failureOf(err);
    const timeout = outcome === 'timeout';
    const code = timeout ? GatewayErrors.upstreamTimeout.code : GatewayErrors.upstreamError.code;
    const body = Buffer.from(JSON.stringify(gatewayError(code, timeout ? 'the upstream did not finish its answer in time' : 'the upstream failed while sending its answer')));
    this.write(timeout ? 504 : 502, 'application/json; charset=utf-8', body, () => this.finish(outcome, errorClass));
  }

  private answer(body: Buffer | undefined): void {
    const tr = this.t.translate(this.up.statusCode, body);
    this.write(tr.status, tr.contentType, tr.body, () => this.finish(tr.failed ? 'upstream_error' : outcomeForStatus(tr.status), tr.errorClass));
  }

  private write(status: number, contentType: string, body: Buffer, done: () => void): void {
    const x = this.x;
    x.tUpstreamEnd = performance.now();
    x.status = status;
    x.responseContentType = contentType;
    x.capture?.add(body);
    x.responseBytes = body.length;
    x.tFirstByte = performance.now();
    const h = this.headers;
    h['content-type'] = contentType;
    h['content-length'] = String(body.length);
    this.res.writeHead(status, h as Record<string, string | string[]>);
    this.res.end(body, done);
  }
}
