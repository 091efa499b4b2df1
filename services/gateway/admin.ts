/**
 * The admin API, on its own listener (127.0.0.1 by default), every route behind a bearer token
 * except GET /healthz and (unless configured otherwise) GET /metrics:
 * - GET  /admin/routing, /admin/routing/:model — states, breakers, targets
 * - PUT  /admin/models/:model/weights  {weights: {v: percent}, reason?, rollout_id?}
 * - POST /admin/models/:model/versions/:version/trip  {reason?}
 * - POST /admin/models/:model/versions/:version/reset {reason?}  (active again, breaker closed)
 * - POST /admin/reload {reason?} — re-reads the config file
 * - GET  /admin/changes — recent admin changes (in-memory recorder only)
 * - GET  /admin/consumers, /admin/consumers/:id — consumers with key ids (never hashes or keys)
 * - PUT  /admin/consumers/:id {keys?, models?, pin?, limits?, reason?} — add or replace
 * - DELETE /admin/consumers/:id {reason?}
 * - POST /admin/consumers/:id/keys {hash, reason?} — add a key hash
 * - DELETE /admin/keys/:keyId {reason?} — revoke a key by its id
 * The actor is the `x-mlgate-actor` header (default `admin`). Each change is validated (400 and
 * nothing changes when it is bad), recorded, applied with a new generation, then published.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import { MlgateError } from '../core/errors.ts';
import { NAME_PATTERN } from '../control/routing-state.ts';
import { MemoryAdminChangeRecorder } from '../control/admin-changes.ts';
import { GatewayErrors } from './errors.ts';
import type { AdminService } from './admin-service.ts';
import type { GatewayMetrics } from './metrics.ts';

/** Options of {@link createAdminApp}. */
export interface AdminAppOptions {
  token: string;
  metricsRequireToken: boolean;
  service: AdminService;
  metrics: GatewayMetrics;
}

const Name = z.string().regex(NAME_PATTERN);
const Reason = z.string().max(2000).default('');
const WeightsBody = z.strictObject({
  weights: z.record(Name, z.number().finite().min(0).max(100)).refine((w) => Object.keys(w).length > 0, 'at least one weight'),
  reason: Reason,
  rollout_id: z.string().max(200).optional(),
});
const ReasonBody = z.strictObject({ reason: Reason }).prefault({});
/** The consumer fields are checked by the config's ConsumerSchema in the service. */
const ConsumerBody = z.looseObject({ reason: Reason });
const KeyBody = z.strictObject({ hash: z.string().max(200), reason: Reason });
const ACTOR = /^[A-Za-z0-9._@:+-]{1,100}$/;

const digest = (s: string) => createHash('sha256').update(s).digest();

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? undefined);
  if (r.success) return r.data;
  throw GatewayErrors.adminInvalid(`invalid request body: ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
}

/** Builds the admin app (not listening yet). */
export function createAdminApp(opts: AdminAppOptions): FastifyInstance {
  if (!opts.token || opts.token.length < 16) throw new Error('admin API: a token of at least 16 characters is required');
  const want = digest(opts.token);
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });
  const s = opts.service;

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?', 1)[0];
    if (path === '/healthz' || (path === '/metrics' && !opts.metricsRequireToken)) return;
    const auth = req.headers.authorization;
    const got = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!got || !timingSafeEqual(digest(got), want)) throw GatewayErrors.adminUnauthorized('a valid bearer token is required');
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const e = err instanceof MlgateError ? err
      : err.statusCode !== undefined && err.statusCode < 500 ? GatewayErrors.adminInvalid(`invalid request: ${err.message}`)
        : GatewayErrors.internal('unexpected admin failure', { cause: err });
    return reply.code(e.statusCode).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = GatewayErrors.notFound(`no admin route for ${req.method} ${req.url.split('?', 1)[0]}`);
    return reply.code(404).send(e.toJSON());
  });
  const actorOf = (h: unknown): string => {
    if (h === undefined) return 'admin';
    if (typeof h !== 'string' || !ACTOR.test(h)) throw GatewayErrors.adminInvalid('x-mlgate-actor must be 1-100 characters of letters, digits and ._@:+-');
    return h;
  };
  const ok = (reply: FastifyReply, body: unknown) => reply.code(200).send(body);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(text);
  });
  app.get('/admin/routing', async () => s.describe());
  app.get<{ Params: { model: string } }>('/admin/routing/:model', async (req) => s.describeModel(req.params.model));
  app.put<{ Params: { model: string } }>('/admin/models/:model/weights', async (req, reply) => {
    const b = parseBody(WeightsBody, req.body);
    return ok(reply, await s.setWeights(actorOf(req.headers['x-mlgate-actor']), req.params.model, b.weights, b.reason, b.rollout_id));
  });
  app.post<{ Params: { model: string; version: string } }>('/admin/models/:model/versions/:version/trip', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.setVersionState(actorOf(req.headers['x-mlgate-actor']), req.params.model, req.params.version, 'trip', b.reason));
  });
  app.post<{ Params: { model: string; version: string } }>('/admin/models/:model/versions/:version/reset', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.setVersionState(actorOf(req.headers['x-mlgate-actor']), req.params.model, req.params.version, 'reset', b.reason));
  });
  app.post('/admin/reload', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.reload(actorOf(req.headers['x-mlgate-actor']), b.reason));
  });
  app.get<{ Querystring: { limit?: string } }>('/admin/changes', async (req) => {
    const rec = s.recorder;
    if (!(rec instanceof MemoryAdminChangeRecorder)) throw GatewayErrors.adminInvalid('this gateway records admin changes elsewhere; query the audit API');
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    return { changes: rec.changes.slice(-limit) };
  });
  app.get('/admin/consumers', async () => ({ consumers: s.consumers.list() }));
  app.get<{ Params: { id: string } }>('/admin/consumers/:id', async (req) => s.consumers.get(req.params.id));
  app.put<{ Params: { id: string } }>('/admin/consumers/:id', async (req, reply) => {
    const { reason, ...consumer } = parseBody(ConsumerBody, req.body);
    return ok(reply, await s.consumers.upsert(actorOf(req.headers['x-mlgate-actor']), req.params.id, consumer, reason));
  });
  app.delete<{ Params: { id: string } }>('/admin/consumers/:id', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.consumers.remove(actorOf(req.headers['x-mlgate-actor']), req.params.id, b.reason));
  });
  app.post<{ Params: { id: string } }>('/admin/consumers/:id/keys', async (req, reply) => {
    const b = parseBody(KeyBody, req.body);
    return ok(reply, await s.consumers.addKey(actorOf(req.headers['x-mlgate-actor']), req.params.id, b.hash, b.reason));
  });
  app.delete<{ Params: { keyId: string } }>('/admin/keys/:keyId', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.consumers.revokeKey(actorOf(req.headers['x-mlgate-actor']), req.params.keyId, b.reason));
  });
  return app;
}
