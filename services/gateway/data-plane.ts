/**
 * The data plane: the fastify app clients call. Routes:
 * - `POST /v1/models/{model}/predict` and anything under `/v1/models/{model}/` (any method),
 *   forwarded to the target with the `/v1/models/{model}` prefix replaced by the target URL's path;
 * - `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` (OpenAI style; the model
 *   comes from the JSON body), forwarded with `/v1` replaced by the target URL's path;
 * - `GET /healthz` (no event).
 * Bodies are read as Buffers (no parsing unless JSON must be checked or the model read).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MlgateError } from '../core/errors.ts';
import { GatewayErrors } from './errors.ts';
import { RequestHandler, type RequestHandlerOptions, type RouteKind } from './request-handler.ts';

/** What the data plane needs: the request handler's options, plus TLS for the listener. */
export interface DataPlaneOptions extends RequestHandlerOptions {
  /** Serve HTTPS with this certificate and key. */
  https?: { cert: Buffer; key: Buffer } | undefined;
}

/** The data plane app and its request handler (for draining). */
export interface DataPlane {
  app: FastifyInstance;
  handler: RequestHandler;
}

/** Builds the data plane app (not listening yet). */
export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  const common = {
    logger: false,
    bodyLimit: opts.bodyLimit,
    requestIdHeader: false as const,
    return503OnClosing: false,
    forceCloseConnections: false,
    keepAliveTimeout: 65_000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  } as const;
  // The routes only touch the raw req/res, which HTTP and HTTPS servers share.
  const app = (opts.https ? Fastify({ ...common, https: opts.https, http2: false }) : Fastify(common)) as unknown as FastifyInstance;
  const handler = new RequestHandler(opts);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const route = (kind: RouteKind, template: string) => (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    handler.handle(kind, template, req.raw, reply.raw, req.body as Buffer | undefined, req.ip);
  };
  app.post('/v1/models/:model/predict', route('model', '/v1/models/{model}/predict'));
  app.all('/v1/models/:model/*', route('model', '/v1/models/{model}/*'));
  app.post('/v1/chat/completions', route('openai', '/v1/chat/completions'));
  app.post('/v1/completions', route('openai', '/v1/completions'));
  app.post('/v1/embeddings', route('openai', '/v1/embeddings'));
  app.get('/healthz', (_req, reply) => {
    if (handler.draining) return reply.code(503).send({ status: 'draining' });
    return reply.send({ status: 'ok' });
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

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).slice(0, 200);
}

/** Maps fastify's own errors (body limit, bad content length, ...) to the catalogue. */
function mapFastifyError(err: Error & { statusCode?: number; code?: string }, req: IncomingMessage): MlgateError {
  if (err instanceof MlgateError) return err;
  if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return GatewayErrors.tooLarge(`request body is larger than the gateway's limit`, { details: { path: pathOf(req) } });
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return GatewayErrors.badRequest(`bad request: ${err.message}`, { details: { code: err.code ?? '' } });
  }
  return GatewayErrors.internal('unexpected gateway failure', { cause: err });
}

/** Re-exported for typing the raw objects handlers receive. */
export type { IncomingMessage, ServerResponse };
