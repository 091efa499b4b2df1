/**
 * One request to an upstream target through undici's `dispatch` with a handler, instead of
 * `request()`: `request()` wraps every response body in a Readable stream (an AsyncResource,
 * push/read bookkeeping and several nextTicks per response), which measured at 3–4 µs per request
 * on the hot path (docs/gateway.md, Benchmark). Here the body's chunks go straight to whoever
 * relays them, with undici's own pause/resume for backpressure.
 *
 * Life of a call: {@link UpstreamCall.start} resolves once the status line and headers arrive, or
 * rejects when the request fails before that (connection refused, reset, headers timeout) — the
 * only failures a retry may follow. The body is then handed to one {@link BodySink} with
 * {@link UpstreamCall.pipe}; chunks that arrive before it is attached (same socket read as the
 * headers) are kept and delivered first. Exactly one of `end` or `error` reaches the sink.
 */
import { util, type Dispatcher } from 'undici';

/** Receives a response body. */
export interface BodySink {
  /** One chunk; return false to pause the upstream until {@link UpstreamCall.resume}. */
  data(chunk: Buffer): boolean;
  /** The body ended. */
  end(): void;
  /** The body failed (body timeout, reset, abort). */
  error(err: Error): void;
}

/** What a response offers before its body is consumed. */
export interface UpstreamHead {
  readonly statusCode: number;
  /** Lower-case names; repeated headers as arrays (like undici's `request()`). */
  readonly headers: Record<string, string | string[]>;
}

type Settle = { resolve: (c: UpstreamCall) => void; reject: (err: Error) => void } | undefined;

/** One upstream request and its response (an undici dispatch handler). */
export class UpstreamCall implements UpstreamHead {
  statusCode = 0;
  headers: Record<string, string | string[]> = {};
  private settle: Settle;
  private abortFn: ((err?: Error) => void) | undefined;
  private resumeFn: (() => void) | undefined;
  private sink: BodySink | undefined;
  private early: Buffer[] | undefined;
  private done: 'end' | Error | undefined;
  private closed = false;

  private constructor(settle: Settle) {
    this.settle = settle;
  }

  /** Sends `opts` on `dispatcher`; resolves at the response headers. */
  static start(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions): Promise<UpstreamCall> {
    return new Promise((resolve, reject) => {
      const call = new UpstreamCall({ resolve, reject });
      dispatcher.dispatch(opts, call as unknown as Dispatcher.DispatchHandler);
    });
  }

  /** Hands the body to `sink` (once). */
  pipe(sink: BodySink): void {
    this.sink = sink;
    const early = this.early;
    this.early = undefined;
    // Early chunks come from the read that carried the headers; a sink that wants a pause then
    // gets it on the next chunk (onData passes its answer to undici).
    if (early) for (const c of early) sink.data(c);
    if (this.done !== undefined) this.finish();
  }

  /** Resumes a paused body. */
  resume(): void {
    this.resumeFn?.();
  }

  /** Aborts the request (the sink then gets `error`, unless it already ended). */
  destroy(err?: Error): void {
    if (this.closed) return;
    this.abortFn?.(err ?? Object.assign(new Error('the gateway aborted the upstream request'), { code: 'UND_ERR_ABORTED' }));
  }

  // undici's (legacy) dispatch handler interface

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: informational, the real answer follows
    this.statusCode = statusCode;
    this.headers = util.parseHeaders(raw);
    this.resumeFn = resume;
    const s = this.settle;
    this.settle = undefined;
    s?.resolve(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const sink = this.sink;
    if (sink) return sink.data(chunk);
    (this.early ??= []).push(chunk);
    return true;
  }

  onComplete(): void {
    this.done = 'end';
    if (this.sink) this.finish();
  }

  onError(err: Error): void {
    const s = this.settle;
    if (s) {
      this.settle = undefined;
      this.closed = true;
      s.reject(err);
      return;
    }
    if (this.done !== undefined) return;
    this.done = err;
    if (this.sink) this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    const d = this.done;
    if (d === 'end') this.sink!.end();
    else this.sink!.error(d!);
  }
}
