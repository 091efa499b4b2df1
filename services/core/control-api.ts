/**
 * What every control-plane HTTP API shares (the gateway's admin API, the controller's API, the
 * audit API, and embedded mode's listeners), applied to a fastify app by {@link controlApi}:
 * - role-based bearer auth: `Authorization: Bearer <token>`; each token has a name (the actor
 *   recorded for its changes) and a role. Tokens are compared as SHA-256 digests in constant time,
 *   every configured token every time, so neither a token's length nor its position leaks through
 *   timing; a token never reaches a log. A route names the role it needs in its config
 *   (`{ config: { role: 'operator' } }`); roles are ranked, a higher one may do what a lower one
 *   does. `defaultRole` puts every route without a role, and unknown paths, behind that role
 *   (`role: 'public'` opens one);
 * - the error handler: catalogue errors reach the client as they are (or as `expose` maps them);
 *   fastify's own 4xx (a body that does not parse) as the area's bad-request error; anything else
 *   as the area's internal error, with no text of its own (the log has it);
 * - 404 naming the method and path (cut at 200 characters), GET /healthz and GET /metrics;
 * - a log line per request: route pattern, status, time and the token's name, never a query string
 *   or a body.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { MlgateError, type ErrorFactory } from './errors.ts';
import type { Logger } from './log.ts';

/** Who is calling: the name of the token used and its role. */
export interface Principal<R extends string = string> {
  readonly name: string;
  readonly role: R;
}

/** A configured bearer token. */
export interface ApiToken<R extends string = string> {
  readonly name: string;
  readonly token: string;
  readonly role: R;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (set by the control API's auth hook on routes that need a role). */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Role a control API route needs; `public` (or none, without a default role) opens it. */
    role?: string;
  }
}

/** The area's catalogue errors the plugin answers with. */
export interface ControlApiErrors {
  unauthorized: ErrorFactory;
  forbidden: ErrorFactory;
  notFound: ErrorFactory;
  badRequest: ErrorFactory;
  internal: ErrorFactory;
}

/** Options of {@link controlApi}. */
export interface ControlApiOptions<R extends string> {
  /** What the API is called in messages and logs (e.g. `admin`, `controller`, `audit`). */
  name: string;
  tokens: ReadonlyArray<ApiToken<R>>;
  /** The roles, lowest first: a token may use a route needing its role or a lower one. */
  roles: readonly R[];
  errors: ControlApiErrors;
  /** Role of routes without one, and of unknown paths; default none (open). */
  defaultRole?: R;
  /** Extra fields of GET /healthz besides `status: 'ok'`; false: no health route. */
  health?: (() => Record<string, unknown>) | false;
  /** GET /metrics from this registry; `role` puts it behind a token. */
  metrics?: { registry: Registry; role?: R | 'public' };
  /** How a catalogue error reaches the client (default: as it is). */
  expose?: (err: MlgateError) => MlgateError;
  /** Request lines and failures go here; default none. */
  logger?: Logger;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Resolves an `Authorization` header to a principal.
 * @throws the area's unauthorized error for a missing, malformed or unknown token.
 */
export function bearerAuthenticator<R extends string>(tokens: ReadonlyArray<ApiToken<R>>, unauthorized: ErrorFactory): (authorization: string | undefined) => Principal<R> {
  const known = tokens.map((t) => ({ digest: digest(t.token), principal: Object.freeze({ name: t.name, role: t.role }) }));
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw unauthorized('send Authorization: Bearer <token>');
    const d = digest(m[1]!);
    let found: Principal<R> | undefined;
    for (const k of known) if (timingSafeEqual(k.digest, d) && !found) found = k.principal;
    if (!found) throw unauthorized('the bearer token is not valid');
    return found;
  };
}

/**
 * Fails with the area's forbidden error unless `p`'s role ranks at least as high as `need` in
 * `roles` (lowest first).
 */
export function requireRole<R extends string>(p: Principal<R>, need: R, roles: readonly R[], forbidden: ErrorFactory): void {
  if (roles.indexOf(p.role) < roles.indexOf(need)) {
    throw forbidden(`this operation needs the ${need} role; token ${p.name} has the ${p.role} role`, { details: { role: need } });
  }
}

const pathOf = (req: FastifyRequest) => {
  const path = req.url.split('?', 1)[0]!;
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
};

/** Applies auth, the error and 404 handlers, health, metrics and request logs to `app` (before its routes). */
export function controlApi<R extends string>(app: FastifyInstance, opts: ControlApiOptions<R>): void {
  const { errors, roles, logger: log } = opts;
  for (const r of [opts.defaultRole, opts.metrics?.role, ...opts.tokens.map((t) => t.role)]) {
    if (r !== undefined && r !== 'public' && !roles.includes(r)) throw new Error(`${opts.name} API: unknown role ${r}`);
  }
  const authenticate = bearerAuthenticator(opts.tokens, errors.unauthorized);
  const needOf = (req: FastifyRequest): R | undefined => {
    // An unknown path has no route config: it takes the default role, so it reveals nothing.
    const role = (req.routeOptions.config as { role?: string } | undefined)?.role ?? opts.defaultRole;
    return role === undefined || role === 'public' ? undefined : role as R;
  };
  app.addHook('onRequest', async (req) => {
    const need = needOf(req);
    if (need === undefined) return;
    const principal = authenticate(req.headers.authorization);
    req.principal = principal;
    requireRole(principal, need, roles, errors.forbidden);
  });
  if (log) {
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url;
      if (route === '/metrics' || route === '/healthz') return;
      log.info({ method: req.method, route: route ?? 'unknown', status: reply.statusCode, ms: Math.round(reply.elapsedTime), actor: req.principal?.name }, `${opts.name} api request`);
    });
  }
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    let e: MlgateError;
    if (err instanceof MlgateError) e = opts.expose ? opts.expose(err) : err;
    else if (err.statusCode !== undefined && err.statusCode < 500) e = errors.badRequest(`invalid request: ${err.message}`);
    else e = errors.internal(`unexpected ${opts.name} failure`);
    if (e.statusCode >= 500) log?.error({ err, route: req.routeOptions.url }, `${opts.name} api request failed`);
    return reply.code(e.statusCode).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errors.notFound(`no ${opts.name} route for ${req.method} ${pathOf(req)}`).toJSON()));
  if (opts.health !== false) {
    const extra = opts.health;
    app.get('/healthz', { config: { role: 'public' } }, async () => ({ status: 'ok', ...(extra ? extra() : {}) }));
  }
  if (opts.metrics) {
    const { registry, role } = opts.metrics;
    app.get('/metrics', { config: { role: role ?? 'public' } }, async (_req, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()));
  }
}
