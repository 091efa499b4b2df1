/**
 * An Anthropic Messages stub upstream for the Anthropic adapter tests, on 127.0.0.1. It answers
 * `POST /v1/messages` as Anthropic does (a `message`, or an event stream of `message_start`,
 * `content_block_*`, `ping`, `message_delta`, `message_stop`), and checks the request's shape
 * the way the real API would (path, `x-api-key`, `anthropic-version`, `model`, an integer
 * `max_tokens`, only user and assistant turns): a request that fails the check gets Anthropic's
 * 400 `invalid_request_error` naming what was wrong. It records every request, and can answer
 * with Anthropic error bodies, non-JSON, malformed, huge or error events, or hold a stream.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { onJsonBody } from './llm-stub.ts';

/** What the stub does with the next requests. */
export type AnthropicStubMode =
  | 'ok'
  /** An Anthropic error answer with {@link AnthropicStub.errorStatus} (400, 429, 500, 529...). */
  | 'error'
  /** 200 `text/html` that is not JSON. */
  | 'not_json'
  /** A stream whose second text delta's data is not JSON, then held until release(). */
  | 'bad_sse'
  /** A stream with a 2 MiB event after the first text delta. */
  | 'huge_sse'
  /** A stream with an `overloaded_error` event after the first text delta. */
  | 'stream_error'
  /** A stream cut (ended) after the first text delta, without message_stop. */
  | 'cut'
  /** A stream that stops after the first text delta until release(). */
  | 'hold';

/** A request the stub received. */
export interface AnthropicStubRequest {
  path: string;
  headers: IncomingHttpHeaders;
  json: any;
}

/** A running stub. */
export interface AnthropicStub {
  /** The target URL to configure (`http://127.0.0.1:PORT/v1`). */
  readonly url: string;
  readonly requests: AnthropicStubRequest[];
  mode: AnthropicStubMode;
  /** Status of `error` answers. */
  errorStatus: number;
  /** Text deltas of an answer. */
  pieces: string[];
  stopReason: string;
  /** Delay after message_start before the first text delta (ms; 0 = one loop turn). */
  firstGapMs: number;
  /** Delay between later events (ms). */
  gapMs: number;
  release(): void;
  /** Resolves once a stream's socket was closed by the gateway before the stream's end (now, if one was). */
  aborted(): Promise<void>;
}

export const INPUT_TOKENS = 21;
export const ANTHROPIC_KEY_HEADER = 'x-api-key';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error',
};

/** What a real Messages API would refuse in `req`, or undefined. */
function shapeProblem(path: string, headers: IncomingHttpHeaders, json: any): string | undefined {
  if (path !== '/v1/messages') return `unexpected path ${path}`;
  if (typeof headers[ANTHROPIC_KEY_HEADER] !== 'string') return 'x-api-key header is required';
  if (typeof headers['anthropic-version'] !== 'string') return 'anthropic-version header is required';
  if (json === null || typeof json !== 'object') return 'body must be JSON';
  if (typeof json.model !== 'string' || json.model === '') return 'model: Field required';
  if (!Number.isInteger(json.max_tokens) || json.max_tokens < 1) return 'max_tokens: Field required';
  if (!Array.isArray(json.messages)) return 'messages: Field required';
  for (const m of json.messages) if (m.role !== 'user' && m.role !== 'assistant') return `messages: Unexpected role "${m.role}"`;
  for (const k of ['stop', 'n', 'tools', 'stream_options', 'max_completion_tokens']) if (k in json) return `${k}: Extra inputs are not permitted`;
  return undefined;
}

/** Starts a stub; closed when the test ends. */
export async function startAnthropicStub(t: TestContext): Promise<AnthropicStub> {
  const sockets = new Set<Socket>();
  const releases: Array<() => void> = [];
  let abortWaiters: Array<() => void> = [];
  let aborts = 0;
  const stub: AnthropicStub = {
    url: '',
    requests: [],
    mode: 'ok',
    errorStatus: 500,
    pieces: ['Hel', 'lo', ' wor', 'ld'],
    stopReason: 'end_turn',
    firstGapMs: 0,
    gapMs: 0,
    release: () => { for (const r of releases.splice(0)) r(); },
    aborted: () => new Promise((resolve) => { if (aborts > 0) resolve(); else abortWaiters.push(resolve); }),
  };
  const server: Server = createServer((req, res) => {
    onJsonBody(req, (json) => {
      stub.requests.push({ path: req.url ?? '', headers: req.headers, json });
      const problem = shapeProblem(req.url ?? '', req.headers, json);
      if (problem) return anthropicError(res, 400, problem);
      void answer(stub, json, res, (r) => releases.push(r), () => { aborts++; for (const w of abortWaiters.splice(0)) w(); abortWaiters = []; });
    });
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (stub as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return stub;
}

function anthropicError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const b = JSON.stringify({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(b)), ...headers });
  res.end(b);
}

/** The SSE text of one Anthropic event. */
export function anthropicEvent(data: Record<string, unknown>): string {
  return `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The events of a streamed answer (the stub's, so unit tests can feed the same). */
export function anthropicStream(model: string, pieces: readonly string[], stopReason = 'end_turn'): string[] {
  return [
    anthropicEvent({ type: 'message_start', message: { id: 'msg_01', type: 'message', role: 'assistant', content: [], model, stop_reason: null, stop_sequence: null, usage: { input_tokens: INPUT_TOKENS, output_tokens: 1 } } }),
    anthropicEvent({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    anthropicEvent({ type: 'ping' }),
    ...pieces.map((p) => anthropicEvent({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } })),
    anthropicEvent({ type: 'content_block_stop', index: 0 }),
    anthropicEvent({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: pieces.length } }),
    anthropicEvent({ type: 'message_stop' }),
  ];
}

const FIRST_DELTA = 3; // index of the first text delta in anthropicStream()

async function answer(stub: AnthropicStub, json: any, res: ServerResponse, onHold: (r: () => void) => void, onAbort: () => void): Promise<void> {
  switch (stub.mode) {
    case 'error':
      return anthropicError(res, stub.errorStatus, `stub error ${stub.errorStatus}`, stub.errorStatus === 429 ? { 'retry-after': '7' } : {});
    case 'not_json':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>upstream proxy error</html>');
      return;
    default:
  }
  if (json.stream === true) {
    const events = anthropicStream(json.model, stub.pieces, stub.stopReason);
    const after = FIRST_DELTA + 1;
    if (stub.mode === 'bad_sse') events.splice(after, 1, 'event: content_block_delta\ndata: {this is not json\n\n');
    if (stub.mode === 'huge_sse') events.splice(after, 0, anthropicEvent({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(2 << 20) } }));
    if (stub.mode === 'stream_error') events.splice(after, events.length, anthropicEvent({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    if (stub.mode === 'cut') events.splice(after);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.on('close', () => { if (!res.writableFinished) onAbort(); });
    for (let i = 0; i < events.length; i++) {
      if ((i === after && stub.mode === 'hold') || (i === after + 1 && stub.mode === 'bad_sse')) {
        await new Promise<void>((resolve) => onHold(resolve));
        if (res.destroyed) return;
      }
      const e = events[i]!;
      // Split some events across writes, as a real server may.
      if (i % 3 === 2) {
        res.write(e.slice(0, 10));
        await new Promise((r) => setImmediate(r));
        res.write(e.slice(10));
      } else {
        res.write(e);
      }
      const gap = i === FIRST_DELTA - 1 ? stub.firstGapMs : stub.gapMs;
      await new Promise((r) => (gap > 0 ? setTimeout(r, gap) : setImmediate(r)));
    }
    res.end();
    return;
  }
  const b = JSON.stringify({
    id: 'msg_01', type: 'message', role: 'assistant', model: json.model,
    content: [{ type: 'text', text: stub.pieces.join('') }],
    stop_reason: stub.stopReason, stop_sequence: null,
    usage: { input_tokens: INPUT_TOKENS, output_tokens: stub.pieces.length },
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(b)) });
  res.end(b);
}
