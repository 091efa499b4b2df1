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
 * The actor recorded is the name of the bearer token used (`admin` for the single
 * `admin.token`); a client header cannot set it, so `x-mlgate-actor` is ignored. Each change is
 * validated (400 and nothing changes when it is bad), recorded, applied with a new generation,
 * then published.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { controlApi } from '../../core/control-api.ts';
import { NAME_PATTERN } from '../../routing/state.ts';
import { MemoryAdminChangeRecorder } from '../../ledger/admin-changes.ts';
import { GatewayErrors } from '../errors.ts';
import type { AdminService } from './routing-changes.ts';
import type { Registry } from 'prom-client';
import type { GatewayMetrics } from '../observability/metrics.ts';

/** A bearer token and the actor its changes are recorded as. */
export interface AdminToken {
  name: string;
  token: string;
}

/** Options of {@link createAdminApp}. */
export interface AdminAppOptions {
  /** At least one; each at least 16 characters. */
  tokens: readonly AdminToken[];
  metricsRequireToken: boolean;
  service: AdminService;
  metrics: GatewayMetrics;
  /** What GET /metrics serves; default `metrics.registry` (a cluster worker serves the workers' aggregate). */
  metricsRegistry?: Registry | undefined;
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

/** Checks the admin tokens (at least one, each at least 16 characters); every one has the admin role. */
function adminTokens(tokens: readonly AdminToken[]): Array<AdminToken & { role: 'admin' }> {
  if (tokens.length === 0) throw new Error('admin API: at least one token is required');
  return tokens.map((t) => {
    if (t.token.length < 16) throw new Error(`admin API: token ${t.name} is shorter than 16 characters`);
    return { ...t, role: 'admin' as const };
  });
}

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? undefined);
  if (r.success) return r.data;
  throw GatewayErrors.adminInvalid(`invalid request body: ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
}

/** Builds the admin app (not listening yet). */
export function createAdminApp(opts: AdminAppOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });
  const s = opts.service;
  // Every route (and every unknown path) needs a token, but /healthz and, unless configured
  // otherwise, /metrics.
  controlApi(app, {
    name: 'admin', tokens: adminTokens(opts.tokens), roles: ['admin'], defaultRole: 'admin',
    errors: { unauthorized: GatewayErrors.adminUnauthorized, forbidden: GatewayErrors.forbidden, notFound: GatewayErrors.notFound, badRequest: GatewayErrors.adminInvalid, internal: GatewayErrors.internal },
    metrics: { registry: opts.metricsRegistry ?? opts.metrics.registry, role: opts.metricsRequireToken ? 'admin' : 'public' },
  });
  /** The name of the token the request came with (set by the auth hook on every change route). */
  const actorOf = (req: FastifyRequest): string => {
    const a = req.principal?.name;
    if (a === undefined) throw GatewayErrors.adminUnauthorized('a valid bearer token is required');
    return a;
  };
  const ok = (reply: FastifyReply, body: unknown) => reply.code(200).send(body);

  app.get('/admin/routing', async () => s.describe());
  app.get<{ Params: { model: string } }>('/admin/routing/:model', async (req) => s.describeModel(req.params.model));
  app.put<{ Params: { model: string } }>('/admin/models/:model/weights', async (req, reply) => {
    const b = parseBody(WeightsBody, req.body);
    return ok(reply, await s.setWeights(actorOf(req), req.params.model, b.weights, b.reason, b.rollout_id));
  });
  app.post<{ Params: { model: string; version: string } }>('/admin/models/:model/versions/:version/trip', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.setVersionState(actorOf(req), req.params.model, req.params.version, 'trip', b.reason));
  });
  app.post<{ Params: { model: string; version: string } }>('/admin/models/:model/versions/:version/reset', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.setVersionState(actorOf(req), req.params.model, req.params.version, 'reset', b.reason));
  });
  app.post('/admin/reload', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.reload(actorOf(req), b.reason));
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
    return ok(reply, await s.consumers.upsert(actorOf(req), req.params.id, consumer, reason));
  });
  app.delete<{ Params: { id: string } }>('/admin/consumers/:id', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.consumers.remove(actorOf(req), req.params.id, b.reason));
  });
  app.post<{ Params: { id: string } }>('/admin/consumers/:id/keys', async (req, reply) => {
    const b = parseBody(KeyBody, req.body);
    return ok(reply, await s.consumers.addKey(actorOf(req), req.params.id, b.hash, b.reason));
  });
  app.delete<{ Params: { keyId: string } }>('/admin/keys/:keyId', async (req, reply) => {
    const b = parseBody(ReasonBody, req.body);
    return ok(reply, await s.consumers.revokeKey(actorOf(req), req.params.keyId, b.reason));
  });
  return app;
}
