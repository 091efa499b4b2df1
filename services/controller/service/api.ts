/**
 * The controller's HTTP API (fastify, its own listener). Every /v1 route needs
 * `Authorization: Bearer <token>`; reads need the `viewer` role, changes the `operator` role. The
 * token's name is the actor recorded with manual decisions. /metrics and /healthz are open.
 *
 * - GET  /v1/rollouts                 every rollout (state, latest decision, ETA)
 * - GET  /v1/rollouts/:id             one rollout
 * - POST /v1/rollouts                 a rollout spec (JSON, or YAML with a yaml content type): 201,
 *                                     created and started by the caller; 400 naming the bad field
 * - POST /v1/rollouts/:id/pause | resume | promote | abort   {reason?}: the operation, recorded
 * - GET  /metrics                     Prometheus text
 * - GET  /healthz                     { status, leader, instance }
 *
 * Changes go to the leader: a standby answers 503 MLG_CTL_NOT_LEADER. Logs carry the route, the
 * status and the token's name, never a body or a token.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { controlApi } from '../../core/control-api.ts';
import type { Logger } from '../../core/log.ts';
import type { ControllerConfig } from './config.ts';
import { ControllerErrors } from '../errors.ts';
import type { ManualOperation } from '../rollout/decision.ts';
import type { RolloutView } from './views.ts';

/** What the API calls (the running controller's rollouts API). */
export interface RolloutsApi {
  /** Every rollout. */
  list(): Promise<RolloutView[]>;
  /** One rollout. @throws MLG_CTL_NOT_FOUND */
  get(id: string): Promise<RolloutView>;
  /** Creates and starts a rollout from a raw spec. @throws MLG_CTL_SPEC_INVALID, MLG_CTL_CONFLICT, MLG_CTL_NOT_LEADER */
  create(spec: unknown, actor: string): Promise<RolloutView>;
  /** A manual operation. @throws MLG_CTL_NOT_FOUND, MLG_CTL_BAD_TRANSITION, MLG_CTL_NOT_LEADER */
  operate(id: string, op: ManualOperation, actor: string, reason?: string): Promise<RolloutView>;
}

/** Options of {@link createControllerApp}. */
export interface ControllerAppOptions {
  api: RolloutsApi;
  tokens: ControllerConfig['tokens'];
  registry: Registry;
  health: () => { leader: boolean; instance: string };
  logger: Logger;
}

const OPS: readonly string[] = ['pause', 'resume', 'promote', 'abort'];
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

function param(req: FastifyRequest, name: string): string {
  return String((req.params as Record<string, unknown>)[name] ?? '');
}

function reasonOf(body: unknown): string | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw ControllerErrors.badRequest('the body must be a JSON object such as {"reason": "..."}');
  const r = (body as Record<string, unknown>).reason;
  if (r === undefined) return undefined;
  if (typeof r !== 'string' || r.length > 2000) throw ControllerErrors.badRequest('reason must be a string of at most 2000 characters', { details: { path: 'reason' } });
  return r;
}

/** Builds the API app (not listening yet). */
export function createControllerApp(opts: ControllerAppOptions): FastifyInstance {
  const { api, logger: log } = opts;
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });
  controlApi(app, {
    name: 'controller', tokens: opts.tokens, roles: ['viewer', 'operator'], logger: log,
    errors: { unauthorized: ControllerErrors.unauthorized, forbidden: ControllerErrors.forbidden, notFound: ControllerErrors.notFound, badRequest: ControllerErrors.badRequest, internal: ControllerErrors.internal },
    health: opts.health, metrics: { registry: opts.registry },
  });

  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYaml(body as string));
    } catch (err) {
      done(ControllerErrors.badRequest(`the body is not valid YAML: ${(err as Error).message}`), undefined);
    }
  });
  const read = { config: { role: 'viewer' } };
  const write = { config: { role: 'operator' } };
  app.get('/v1/rollouts', read, async () => ({ rollouts: await api.list() }));
  app.get('/v1/rollouts/:id', read, async (req) => ({ rollout: await api.get(param(req, 'id')) }));
  app.post('/v1/rollouts', write, async (req, reply) => {
    if (req.body === undefined || req.body === null) throw ControllerErrors.badRequest('send a rollout spec as JSON or YAML');
    const rollout = await api.create(req.body, req.principal!.name);
    return reply.code(201).send({ rollout });
  });
  app.post('/v1/rollouts/:id/:op', write, async (req) => {
    const op = param(req, 'op');
    if (!OPS.includes(op)) throw ControllerErrors.notFound(`no operation ${op}; use ${OPS.join(', ')}`);
    return { rollout: await api.operate(param(req, 'id'), op as ManualOperation, req.principal!.name, reasonOf(req.body)) };
  });
  return app;
}
