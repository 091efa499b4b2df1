/**
 * A stand-in model server for tests: a real HTTP server on 127.0.0.1 that answers like a model.
 *
 *   const m = await startStandIn({ name: 'v1' });        // listening on a free port
 *   m.url                                                // http://127.0.0.1:PORT
 *   m.set({ delayMs: 50, errorRate: 0.2 });              // change behaviour at any time
 *   await m.kill(); await m.restart();                   // same port, sockets cut
 *   await m.close();                                     // (or let t.after do it)
 *
 * Answers (any method, any path):
 * - `GET /healthz`: 200 `{status:'ok'}` while `healthy`, else 503 (counted in `healthChecks`).
 * - paths ending in `/chat/completions`, `/completions` or `/embeddings`: OpenAI-style JSON with
 *   `usage`; with `"stream": true` in the body (or `mode: 'sse'`) an SSE stream of `chunks`
 *   deltas, a final chunk carrying `usage`, then `data: [DONE]`.
 * - anything else: JSON `{ version, label, score, path }` (or what `respond` returns), or with
 *   `mode: 'sse' | 'chunked'` a stream of `chunks` pieces `chunkIntervalMs` apart.
 * - `errorRate` of requests get `errorStatus`; `reset: true` destroys the socket unanswered.
 * - `holdStream: true` stops every stream after its first chunk until {@link StandIn.release}.
 * Every request (except health checks) is recorded with its headers and body.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TestContext } from 'node:test';

/** How the stand-in answers; change it with {@link StandIn.set}. */
export interface StandInBehaviour {
  /** Delay before the response starts, ms. */
  delayMs: number;
  /** Status of normal answers. */
  status: number;
  /** Share (0..1) of requests answered with `errorStatus` instead. */
  errorRate: number;
  errorStatus: number;
  /** `auto`: SSE for LLM paths with `stream: true`, JSON otherwise. */
  mode: 'auto' | 'json' | 'sse' | 'chunked';
  /** Pieces of a streamed answer, and the pause between them. */
  chunks: number;
  chunkIntervalMs: number;
  /** Builds the JSON answer of a non-LLM path (default `{ version, label, score, path }`). */
  respond: ((req: RecordedRequest) => unknown) | undefined;
  /** Answer of GET /healthz: 200 when true, 503 when false. */
  healthy: boolean;
  /** Pause streams after their first chunk until release(). */
  holdStream: boolean;
  /** Destroy the socket without answering. */
  reset: boolean;
}

/** A request the stand-in received. */
export interface RecordedRequest {
  method: string;
  /** Path with query string. */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Parsed body when it was JSON. */
  json: unknown;
}

/** A running stand-in. */
export interface StandIn {
  /** Name reported as `version` in answers. */
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Requests received (health checks excluded), oldest first; at most `keep`. */
  readonly requests: RecordedRequest[];
  /** Number of requests received (health checks excluded), including those not kept. */
  readonly count: number;
  readonly healthChecks: number;
  readonly streamsStarted: number;
  readonly streamsFinished: number;
  /** Changes the behaviour. */
  set(b: Partial<StandInBehaviour>): void;
  /** Lets held streams continue. */
  release(): void;
  /** Stops listening and cuts every connection (the port stays reserved for restart()). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  /** Forgets recorded requests and counters. */
  clear(): void;
  close(): Promise<void>;
}

/** Options of {@link startStandIn}. */
export interface StandInOptions extends Partial<StandInBehaviour> {
  name: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Most requests kept in `requests` (default 10,000). */
  keep?: number;
  /** Closes the server when the test ends. */
  t?: TestContext;
}

const LLM_PATH = /\/(chat\/completions|completions|embeddings)(\?|$)/;
// Unref'd: a stand-in still "thinking" must not keep a finished test process alive.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** Starts a stand-in model on 127.0.0.1. */
export async function startStandIn(opts: StandInOptions): Promise<StandIn> {
  const b: StandInBehaviour = {
    delayMs: 0, status: 200, errorRate: 0, errorStatus: 500, mode: 'auto', chunks: 5, chunkIntervalMs: 5,
    respond: undefined, healthy: true, holdStream: false, reset: false, ...stripUndefined(opts),
  };
  const keep = opts.keep ?? 10_000;
  const requests: RecordedRequest[] = [];
  let count = 0;
  let healthChecks = 0;
  let streamsStarted = 0;
  let streamsFinished = 0;
  let releaseWaiters: Array<() => void> = [];
  const sockets = new Set<Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      void answer(req, res, Buffer.concat(parts)).catch(() => res.destroy());
    });
  };

  async function answer(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const path = req.url ?? '/';
    if (req.method === 'GET' && path.split('?')[0]!.endsWith('/healthz')) {
      healthChecks++;
      res.writeHead(b.healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: b.healthy ? 'ok' : 'unhealthy' }));
      return;
    }
    let json: unknown;
    try { json = body.length ? JSON.parse(body.toString('utf8')) : undefined; } catch { json = undefined; }
    const rec: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, json };
    count++;
    requests.push(rec);
    if (requests.length > keep) requests.shift();
    if (b.reset) {
      req.socket.destroy();
      return;
    }
    if (b.delayMs > 0) await sleep(b.delayMs);
    if (b.errorRate > 0 && Math.random() < b.errorRate) {
      res.writeHead(b.errorStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `stand-in ${opts.name} failed on purpose` }));
      return;
    }
    const llm = LLM_PATH.exec(path)?.[1];
    const wantsStream = (json as { stream?: unknown } | undefined)?.stream === true;
    const mode = b.mode === 'auto' ? (llm && wantsStream ? 'sse' : 'json') : b.mode;
    if (mode === 'json') {
      const payload = llm ? llmAnswer(opts.name, llm, json) : (b.respond ? b.respond(rec) : { version: opts.name, label: 'positive', score: 0.9, path });
      const text = JSON.stringify(payload);
      res.writeHead(b.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-standin': opts.name });
      res.end(text);
      return;
    }
    streamsStarted++;
    const sse = mode === 'sse';
    res.writeHead(b.status, sse ? { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-standin': opts.name }
      : { 'content-type': 'application/x-ndjson', 'x-standin': opts.name });
    for (let i = 0; i < b.chunks; i++) {
      if (res.destroyed) return;
      const piece = sse
        ? `data: ${JSON.stringify({ id: `c${i}`, object: 'chat.completion.chunk', model: opts.name, choices: [{ index: 0, delta: { content: `tok${i} ` } }] })}\n\n`
        : `${JSON.stringify({ version: opts.name, piece: i })}\n`;
      res.write(piece);
      if (i === 0 && b.holdStream) await new Promise<void>((r) => releaseWaiters.push(r));
      else if (b.chunkIntervalMs > 0) await sleep(b.chunkIntervalMs);
    }
    if (sse) {
      res.write(`data: ${JSON.stringify({ id: 'usage', object: 'chat.completion.chunk', model: opts.name, choices: [], usage: { prompt_tokens: 7, completion_tokens: b.chunks, total_tokens: 7 + b.chunks } })}\n\n`);
      res.write('data: [DONE]\n\n');
    }
    res.end();
    streamsFinished++;
  }

  let server: Server = createServer(handler);
  const track = (s: Server) => s.on('connection', (sock: Socket) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); });
  track(server);
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()); });
  const port = (server.address() as AddressInfo).port;
  let alive = true;

  const kill = async () => {
    if (!alive) return;
    alive = false;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    for (const w of releaseWaiters.splice(0)) w();
    await closed;
  };
  const standIn: StandIn = {
    name: opts.name,
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get count() { return count; },
    get healthChecks() { return healthChecks; },
    get streamsStarted() { return streamsStarted; },
    get streamsFinished() { return streamsFinished; },
    set: (nb) => { Object.assign(b, stripUndefined(nb)); },
    release: () => { for (const w of releaseWaiters.splice(0)) w(); releaseWaiters = []; },
    kill,
    restart: async () => {
      if (alive) return;
      server = createServer(handler);
      track(server);
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()); });
      alive = true;
    },
    clear: () => { requests.length = 0; count = 0; healthChecks = 0; streamsStarted = 0; streamsFinished = 0; },
    close: kill,
  };
  opts.t?.after(() => standIn.close());
  return standIn;
}

function llmAnswer(name: string, kind: string, body: unknown): unknown {
  const model = (body as { model?: unknown } | undefined)?.model ?? name;
  if (kind === 'embeddings') {
    return { object: 'list', model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], usage: { prompt_tokens: 4, total_tokens: 4 } };
  }
  return {
    id: 'cmpl-standin', object: kind === 'completions' ? 'text_completion' : 'chat.completion', model,
    choices: [{ index: 0, message: { role: 'assistant', content: `answer from ${name}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && k !== 'name' && k !== 'port' && k !== 't' && k !== 'keep') (out as Record<string, unknown>)[k] = v;
  return out;
}
