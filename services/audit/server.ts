/**
 * The audit HTTP API (fastify, its own listener, 127.0.0.1 by default). Every route but
 * GET /healthz needs `Authorization: Bearer <token>`; reads need the `audit` role, erasure the
 * `admin` role. Lists are JSON `{ rows, next_cursor }` pages (keyset cursors: pass next_cursor
 * back as `cursor`); the export streams CSV or JSON lines in bounded memory.
 *
 * - GET  /v1/requests                     filters: consumer model version role outcome rollout gateway status from to; limit cursor
 * - GET  /v1/requests/summary             same filters; by=consumer,model,… ; limit
 * - GET  /v1/requests/export              same filters; format=csv|jsonl
 * - GET  /v1/requests/:event_id           one request, full redacted record
 * - GET  /v1/traces/:trace_id/requests    the requests of a trace (primary and shadow copies)
 * - GET  /v1/input-hashes/:hash/requests  every request with that input hash; from to limit cursor
 * - POST /v1/input-hashes                 body = a payload (any content type) → its keyed input hash
 * - GET  /v1/rollouts/:rollout_id/decisions  every decision with its evidence; limit cursor
 * - GET  /v1/admin-changes                from to actor action target model; limit cursor
 * - GET  /v1/erasures                     the erasure log: from to actor; limit cursor
 * - POST /v1/erasures         (admin)     {consumer | input_hash | subject, reason?} → the erasure record
 * - GET  /v1/erasures/check               consumer | input_hash | subject → rows remaining, erasures
 * - GET  /v1/verify                       table? allow_unchained? → the chain verification report
 * - POST /v1/verify                       body = a report saved earlier (or a list of anchors); same
 *                                         query → the report, failing where a saved head was cut or rewritten
 * - GET  /v1/retention                    effective vs configured retention per table
 *
 * Logs carry the route pattern, status, time and the token's name: never a query string or a
 * body (they hold consumer ids and payloads).
 */
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { MlgateError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { authorize, createAuthenticator, type Principal } from './auth.ts';
import { anchorsOf } from './verify.ts';
import type { AuditRole, AuditConfig } from './config.ts';
import { AuditErrors } from './errors.ts';
import type { RawInput } from './filters.ts';
import type { AuditService } from './service.ts';

/** Options of {@link createAuditApp}. */
export interface AuditAppOptions {
  service: AuditService;
  tokens: AuditConfig['tokens'];
  logger?: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (set by the auth hook). */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Role a route needs; routes without one are public. */
    role?: AuditRole;
  }
}

const EXPORT_TYPES = { csv: 'text/csv; charset=utf-8', jsonl: 'application/x-ndjson; charset=utf-8' } as const;

function query(req: FastifyRequest): RawInput {
  return (req.query ?? {}) as RawInput;
}

function param(req: FastifyRequest, name: string): string {
  return String((req.params as Record<string, unknown>)[name] ?? '');
}

/** Builds the audit app (not listening yet). */
export function createAuditApp(opts: AuditAppOptions): FastifyInstance {
  const { service } = opts;
  const log = opts.logger ?? silentLogger();
  const authenticate = createAuthenticator(opts.tokens);
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });

  app.addHook('onRequest', async (req) => {
    const role = req.routeOptions.config.role;
    if (!role) return;
    req.principal = authenticate(req.headers.authorization);
    authorize(req.principal, role);
  });
  app.addHook('onResponse', async (req, reply) => {
    log.info({ method: req.method, route: req.routeOptions.url ?? 'unknown', status: reply.statusCode, ms: Math.round(reply.elapsedTime), actor: req.principal?.name }, 'audit request');
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    let e: MlgateError;
    if (err instanceof MlgateError) e = err;
    else if (err.statusCode !== undefined && err.statusCode < 500) e = AuditErrors.badFilter(`invalid request: ${err.message}`);
    else e = AuditErrors.internal('unexpected audit failure');
    if (e.statusCode >= 500) log.error({ err, route: req.routeOptions.url }, 'audit request failed');
    return reply.code(e.statusCode).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = AuditErrors.notFound(`no audit route for ${req.method} ${req.url.split('?', 1)[0]}`);
    return reply.code(404).send(e.toJSON());
  });

  const read = { config: { role: 'audit' as const } };
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/v1/requests', read, (req) => service.requests(query(req)));
  app.get('/v1/requests/summary', read, async (req) => ({ rows: await service.summary(query(req)) }));
  app.get('/v1/requests/export', read, async (req, reply) => {
    const handle = await service.exportRequests(query(req));
    const stream = Readable.from(handle.chunks, { objectMode: false });
    stream.on('error', (err) => log.error({ err }, 'audit export failed mid-stream'));
    return reply
      .header('content-type', EXPORT_TYPES[handle.format])
      .header('content-disposition', `attachment; filename="requests.${handle.format}"`)
      .header('x-mlgate-export-rows', String(handle.rows))
      .send(stream);
  });
  app.get('/v1/requests/:event_id', read, async (req) => ({ row: await service.event(param(req, 'event_id')) }));
  app.get('/v1/traces/:trace_id/requests', read, async (req) => ({ rows: await service.trace(param(req, 'trace_id')) }));
  app.get('/v1/input-hashes/:hash/requests', read, (req) => service.byInputHash({ ...query(req), input_hash: param(req, 'hash') }));
  app.register(async (raw) => {
    // The payload is hashed as the gateway hashed it: the exact bytes, whatever the content type.
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    raw.post('/v1/input-hashes', read, async (req) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      return { input_hash: service.hashPayload(body, req.headers['content-type']) };
    });
  });
  app.get('/v1/rollouts/:rollout_id/decisions', read, (req) => service.rollout(param(req, 'rollout_id'), query(req)));
  app.get('/v1/admin-changes', read, (req) => service.adminChanges(query(req)));
  app.get('/v1/erasures', read, (req) => service.erasures(query(req)));
  app.get('/v1/erasures/check', read, (req) => service.verifyErasure(query(req)));
  app.post('/v1/erasures', { config: { role: 'admin' } }, async (req, reply) => {
    const body = req.body;
    if (!body || typeof body !== 'object' || Buffer.isBuffer(body) || Array.isArray(body)) {
      throw AuditErrors.badFilter('send a JSON object: {"consumer": "…"} or {"input_hash": "…"} or {"subject": "…"}, with an optional "reason"');
    }
    const { reason, ...selector } = body as Record<string, unknown>;
    if (reason !== undefined && typeof reason !== 'string') throw AuditErrors.badFilter('reason must be text', { details: { field: 'reason' } });
    const result = await service.erase(selector, { actor: req.principal!.name, reason });
    return reply.code(201).send(result);
  });
  app.get('/v1/verify', read, async (req, reply) => {
    const report = await service.verify(query(req));
    return reply.code(200).send(report);
  });
  app.post('/v1/verify', read, async (req, reply) => {
    const anchors = anchorsOf(req.body ?? null, 'the request body');
    const report = await service.verify(query(req), anchors);
    return reply.code(200).send(report);
  });
  app.get('/v1/retention', read, async () => ({ rows: await service.retention() }));
  return app;
}
