/**
 * An OpenAI-compatible stub upstream for the LLM tests, on 127.0.0.1. It answers as OpenAI does
 * where it matters here: a stream carries usage only when the request asked for
 * `stream_options.include_usage`, and then every chunk has `"usage":null` and a last chunk
 * `{"choices":[],"usage":{...}}` comes before `data: [DONE]`. It records every request (headers,
 * body) and can answer with errors, non-JSON, malformed or huge SSE events, or hold a stream.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TestContext } from 'node:test';

/** What the stub does with the next requests. */
export type StubMode =
  | 'ok'
  /** 429 with an OpenAI error body and Retry-After. */
  | 'rate_limited'
  /** 500 with an OpenAI error body. */
  | 'error'
  /** 200 `text/html` that is not JSON. */
  | 'not_json'
  /** A stream whose second event is not JSON. */
  | 'bad_sse'
  /** A stream with a 2 MiB content event. */
  | 'huge_sse'
  /** A stream that stops after its first chunk until release(). */
  | 'hold';

/** A request the stub received. */
export interface StubRequest {
  path: string;
  headers: IncomingHttpHeaders;
  json: any;
}

/** A running stub. */
export interface LlmStub {
  readonly url: string;
  readonly requests: StubRequest[];
  mode: StubMode;
  /** Content pieces of a streamed answer. */
  pieces: string[];
  /** An upstream that reports no usage: ignores include_usage, answers JSON without `usage`. */
  noUsage: boolean;
  /** Delays of a streamed answer (ms; 0 = none): after the role chunk, and between later events. */
  firstGapMs: number;
  gapMs: number;
  /** Lets held streams go on. */
  release(): void;
  /** Resolves once a held stream's socket is closed by the gateway. */
  aborted(): Promise<void>;
  close(): Promise<void>;
}

const PROMPT_TOKENS = 13;

/** The SSE bytes the stub sends for a chat stream (so tests can compare byte for byte). */
export function chatStream(model: string, pieces: readonly string[], includeUsage: boolean, extra?: { huge?: boolean; bad?: boolean }): string[] {
  const usageNull = includeUsage ? ',"usage":null' : '';
  const chunk = (delta: string, finish: string | null) =>
    `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"${model}","system_fingerprint":null,"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]${usageNull}}\n\n`;
  const out = [chunk('{"role":"assistant","content":""}', null)];
  if (extra?.bad) out.push('data: {this is not json\n\n');
  if (extra?.huge) out.push(chunk(JSON.stringify({ content: 'x'.repeat(2 << 20) }), null));
  for (const p of pieces) out.push(chunk(JSON.stringify({ content: p }), null));
  out.push(chunk('{}', 'stop'));
  if (includeUsage) {
    out.push(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"${model}","system_fingerprint":null,"choices":[],"usage":{"prompt_tokens":${PROMPT_TOKENS},"completion_tokens":${pieces.length},"total_tokens":${PROMPT_TOKENS + pieces.length}}}\n\n`);
  }
  out.push('data: [DONE]\n\n');
  return out;
}

/** Starts a stub; closed when the test ends. */
export async function startLlmStub(t: TestContext): Promise<LlmStub> {
  const sockets = new Set<Socket>();
  let releases: Array<() => void> = [];
  let abortWaiters: Array<() => void> = [];
  const stub: LlmStub = {
    url: '',
    requests: [],
    mode: 'ok',
    pieces: ['Hel', 'lo', ' wor', 'ld'],
    noUsage: false,
    firstGapMs: 0,
    gapMs: 0,
    release: () => { for (const r of releases.splice(0)) r(); },
    aborted: () => new Promise((resolve) => abortWaiters.push(resolve)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    onJsonBody(req, (json) => {
      stub.requests.push({ path: req.url ?? '', headers: req.headers, json });
      void answer(stub, req.url ?? '', json, res, (r) => releases.push(r), () => { for (const w of abortWaiters.splice(0)) w(); abortWaiters = []; });
    });
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (stub as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  t.after(() => stub.close());
  releases = [];
  return stub;
}

/** Reads a stub's request body and hands it over parsed (undefined when it is not JSON). */
export function onJsonBody(req: IncomingMessage, then: (json: any) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let json: any;
    try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { json = undefined; }
    then(json);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const b = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(b)), ...headers });
  res.end(b);
}

async function answer(stub: LlmStub, path: string, json: any, res: ServerResponse, onHold: (r: () => void) => void, onAbort: () => void): Promise<void> {
  const model = typeof json?.model === 'string' ? json.model : '?';
  switch (stub.mode) {
    case 'rate_limited':
      return sendJson(res, 429, { error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } }, { 'retry-after': '7' });
    case 'error':
      return sendJson(res, 500, { error: { message: 'The server had an error', type: 'server_error', code: null } });
    case 'not_json':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>upstream proxy error</html>');
      return;
    default:
  }
  if (path.endsWith('/embeddings')) {
    return sendJson(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], model, ...(stub.noUsage ? {} : { usage: { prompt_tokens: 4, total_tokens: 4 } }) });
  }
  if (json?.stream === true) {
    const includeUsage = json.stream_options?.include_usage === true && !stub.noUsage;
    const events = chatStream(model, stub.pieces, includeUsage, { huge: stub.mode === 'huge_sse', bad: stub.mode === 'bad_sse' });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.on('close', () => { if (!res.writableFinished) onAbort(); });
    for (let i = 0; i < events.length; i++) {
      // Split events across writes (and one write holding two events) as a real server may.
      const e = events[i]!;
      if (i === 1 && stub.mode === 'hold') {
        await new Promise<void>((resolve) => onHold(resolve));
        if (res.destroyed) return;
      }
      if (i % 3 === 2) {
        res.write(e.slice(0, 10));
        await new Promise((r) => setImmediate(r));
        res.write(e.slice(10));
      } else {
        res.write(e);
      }
      // Controlled gaps (the token-timing tests measure them); otherwise one loop turn.
      const gap = i === 0 ? stub.firstGapMs : stub.gapMs;
      await new Promise((r) => (gap > 0 ? setTimeout(r, gap) : setImmediate(r)));
    }
    res.end();
    return;
  }
  const content = stub.pieces.join('');
  return sendJson(res, 200, {
    id: 'chatcmpl-1', object: 'chat.completion', created: 1700000000, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    ...(stub.noUsage ? {} : { usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: stub.pieces.length, total_tokens: PROMPT_TOKENS + stub.pieces.length } }),
  });
}
