/**
 * The data plane: the fastify app clients call. Routes:
 * - `POST /v1/models/{model}/predict` and anything under `/v1/models/{model}/` (any method),
 *   forwarded to the target with the `/v1/models/{model}` prefix replaced by the target URL's path;
 * - `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` (OpenAI style; the model
 *   comes from the JSON body), forwarded with `/v1` replaced by the target URL's path;
 * - `GET /v1/models` and `/v1/models/{id}`: the models the caller may call, in OpenAI's format (no event);
 * - `GET /healthz` (no event).
 * Bodies are read as Buffers (no parsing unless JSON must be checked or the model read).
 *
 * The hot requests (a POST to `/v1/models/{model}/predict` or an OpenAI route, with a
 * content type and a content length within the limit) skip fastify: the server's listener reads
 * the body and calls the request handler itself, which saves fastify's request and reply
 * objects, its hooks and its body parser on every request. Everything else (other methods and
 * paths, chunked or missing lengths, oversized bodies, odd model names) goes through fastify's
 * routes and error handling as before, so each case is answered the same way.
 */
import { createServer, type IncomingMessage, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import { MlgateError } from '../../core/errors.ts';
import type { ListenerConfig } from '../config.ts';
import { GatewayErrors } from '../errors.ts';
import { forwardedPathProblem } from './path-guard.ts';
import { RequestHandler, type RequestHandlerOptions, type RouteKind } from './request-handler.ts';

/** What the data plane needs: the request handler's options, plus TLS for the listener. */
export interface DataPlaneOptions extends RequestHandlerOptions {
  /** Serve HTTPS with this certificate and key. */
  https?: { cert: Buffer; key: Buffer } | undefined;
  /** Cluster worker slot (`gateway.workers` > 1): GET /healthz names it. */
  worker?: number | undefined;
  /** Timeouts and connection cap of the listener (`gateway.listener`). */
  listener: ListenerConfig;
}

/** The data plane app and its request handler (for draining). */
export interface DataPlane {
  app: FastifyInstance;
  handler: RequestHandler;
}

/** Builds the data plane app (not listening yet). */
export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  const handler = new RequestHandler(opts);
  const serverFactory: FastifyServerFactory = (fastifyHandler) => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (!fastPath(handler, opts.bodyLimit, req, res)) fastifyHandler(req, res);
    };
    const limits = serverLimits(opts.listener);
    const server = opts.https ? createHttpsServer({ ...limits, cert: opts.https.cert, key: opts.https.key }, listener) : createServer(limits, listener);
    server.maxConnections = opts.listener.maxConnections;
    if (opts.listener.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = opts.listener.maxRequestsPerSocket;
    // No socket inactivity timeout: a client waiting for a slow upstream, or between two chunks of
    // a stream, is silent on purpose (the version's timeoutMs and streamIdleTimeoutMs bound that).
    server.setTimeout(0);
    return server;
  };
  const common = {
    logger: false,
    bodyLimit: opts.bodyLimit,
    requestIdHeader: false as const,
    return503OnClosing: false,
    forceCloseConnections: false,
    keepAliveTimeout: opts.listener.keepAliveTimeoutMs,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    serverFactory,
  } as const;
  // The routes only touch the raw req/res, which HTTP and HTTPS servers share.
  const app = Fastify(common) as unknown as FastifyInstance;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const route = (kind: RouteKind, template: string) => (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    // The sub-path is forwarded as is (the OpenAI routes forward fixed paths, and the fast path only `/predict`).
    const bad = kind === 'model' ? forwardedPathProblem((req.raw.url ?? '').slice(MODEL_PREFIX.length)) : undefined;
    if (bad !== undefined) return handler.fail(req.raw, reply.raw, GatewayErrors.badPath(bad, { details: { path: pathOf(req.raw) } }), req.ip);
    handler.handle(kind, template, req.raw, reply.raw, req.body as Buffer | undefined, req.ip);
  };
  app.post('/v1/models/:model/predict', route('model', PREDICT));
  app.all('/v1/models/:model/*', route('model', '/v1/models/{model}/*'));
  for (const path of OPENAI_ROUTES) app.post(path, route('openai', path));
  // OpenAI's model list (client.models.list()): what the caller may use.
  app.get('/v1/models', (req, reply) => {
    reply.hijack();
    void handler.listModels(req.raw, reply.raw, undefined, req.ip);
  });
  app.get('/v1/models/:id', (req, reply) => {
    reply.hijack();
    void handler.listModels(req.raw, reply.raw, (req.params as { id: string }).id, req.ip);
  });
  app.get('/healthz', (_req, reply) => {
    const worker = opts.worker === undefined ? {} : { worker: opts.worker };
    if (handler.draining) return reply.code(503).send({ status: 'draining', ...worker });
    return reply.send({ status: 'ok', ...worker });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.hijack();
    handler.fail(req.raw, reply.raw, GatewayErrors.notFound(`no route for ${req.method} ${pathOf(req.raw)}`), req.ip);
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    reply.hijack();
    handler.fail(req.raw, reply.raw, mapFastifyError(err, req.raw), req.ip);
  });
  return { app, handler };
}

/**
 * Node's server options for the listener limits. Node enforces `headersTimeout` and
 * `requestTimeout` at the parser, for every request whichever way it is served (the fast path's
 * body read included): it answers 408 and closes the connection. It looks for late requests
 * every `connectionsCheckingInterval` (30 s by default), so that interval follows the shortest
 * timeout.
 */
export function serverLimits(l: ListenerConfig): ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(l.headersTimeoutMs / 4))),
  };
}

/** The OpenAI-style routes (each is also its span template). */
const OPENAI_ROUTES: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);
const PREDICT = '/v1/models/{model}/predict';
const MODEL_PREFIX = '/v1/models/';
/** Model names the fast path takes as they are (anything else, e.g. percent-encoded, goes through the router). */
const PLAIN_NAME = /^[A-Za-z0-9._~-]{1,200}$/;

/** A request the fast path takes: its route family and span template, and its body length. */
export interface FastRoute {
  kind: RouteKind;
  template: string;
  length: number;
}

/**
 * Whether a request is one of the simple hot cases the fast path serves (see the file comment);
 * undefined when fastify must take it.
 */
export function fastRoute(method: string | undefined, url: string, headers: IncomingMessage['headers'], bodyLimit: number): FastRoute | undefined {
  if (method !== 'POST') return undefined;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  let kind: RouteKind;
  let template: string;
  if (path.startsWith(MODEL_PREFIX)) {
    const slash = path.indexOf('/', MODEL_PREFIX.length);
    if (slash < 0 || path.slice(slash) !== '/predict' || !PLAIN_NAME.test(path.slice(MODEL_PREFIX.length, slash))) return undefined;
    kind = 'model';
    template = PREDICT;
  } else {
    if (!OPENAI_ROUTES.has(path)) return undefined;
    kind = 'openai';
    template = path;
  }
  if (headers['transfer-encoding'] !== undefined || headers['content-type'] === undefined) return undefined;
  const cl = headers['content-length'];
  if (cl === undefined || !/^[1-9][0-9]{0,15}$/.test(cl)) return undefined;
  const length = Number(cl);
  return length <= bodyLimit ? { kind, template, length } : undefined;
}

/** Serves a hot request without fastify; false, having touched nothing, when fastify must take it. */
function fastPath(handler: RequestHandler, bodyLimit: number, req: IncomingMessage, res: ServerResponse): boolean {
  const r = fastRoute(req.method, req.url ?? '', req.headers, bodyLimit);
  if (!r) return false;
  new BodyReader(handler, r.kind, r.template, req, res, r.length);
  return true;
}

/**
 * Reads a request body of a known length, then hands the request to the handler. 'end' comes
 * only once node's parser has read exactly `length` bytes; a body that breaks off gives 'error'.
 */
class BodyReader {
  private readonly chunks: Buffer[] = [];
  private done = false;

  constructor(
    private readonly handler: RequestHandler, private readonly kind: RouteKind, private readonly template: string,
    private readonly req: IncomingMessage, private readonly res: ServerResponse, private readonly length: number,
  ) {
    req.on('data', (c: Buffer) => this.chunks.push(c));
    req.on('end', () => this.end());
    req.on('error', (err: Error & { code?: string }) => this.error(err));
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.handler.handle(this.kind, this.template, this.req, this.res, body, ipOf(this.req));
  }

  /** As fastify answers a body that broke off (the client will mostly not see it). */
  private error(err: Error & { code?: string }): void {
    if (this.done) return;
    this.done = true;
    this.handler.fail(this.req, this.res, badRequestOf(err), ipOf(this.req));
  }
}

/** The client's address as fastify's `request.ip` gives it (no trusted proxies). */
const ipOf = (req: IncomingMessage): string => req.socket?.remoteAddress ?? '';

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).slice(0, 200);
}

/** A request the client got wrong (a 4xx fastify raised, or a body that broke off). */
const badRequestOf = (err: Error & { code?: string }): MlgateError =>
  GatewayErrors.badRequest(`bad request: ${err.message}`, { details: { code: err.code ?? '' } });

/** Maps fastify's own errors (body limit, bad content length, ...) to the catalogue. */
function mapFastifyError(err: Error & { statusCode?: number; code?: string }, req: IncomingMessage): MlgateError {
  if (err instanceof MlgateError) return err;
  if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return GatewayErrors.tooLarge(`request body is larger than the gateway's limit`, { details: { path: pathOf(req) } });
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return badRequestOf(err);
  return GatewayErrors.internal('unexpected gateway failure', { cause: err });
}

/** Re-exported for typing the raw objects handlers receive. */
export type { IncomingMessage, ServerResponse };
