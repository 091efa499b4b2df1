/**
 * The built-in rollout page, for users without Grafana: mounted on a fastify app (the
 * controller's, or its own listener in embedded mode) under `prefix` (default `/ui`).
 *
 * - GET {prefix} and {prefix}/      the page (self-contained HTML; polls the endpoints below)
 * - GET {prefix}/api/rollouts       `{ rollouts: [{ rollout, display }] }`: every rollout from the
 *                                   controller with its display lines (services/controller/web/describe.ts)
 * - GET {prefix}/api/traffic        `?model=&bucket=10s|1m&minutes=15`: requests, errors and p95
 *                                   per model and version per bucket, from ClickHouse, for the
 *                                   configured models and those of rollouts only (no other name
 *                                   becomes a card)
 * - GET {prefix}/api/decisions      `?rollout=ID&waits=false&limit=50`: recorded decisions, from ClickHouse
 *
 * The routes are read-only and carry no payloads or consumer ids (rollout states and counts), so
 * they take no token; keep the listener on loopback or behind the proxy that guards the API.
 * Bad parameters answer 400 with MLG_CORE_BAD_ARGUMENT naming the parameter.
 */
import type { FastifyInstance } from 'fastify';
import { MlgateError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { silentLogger } from '../../core/log.ts';
import type { Warehouse } from '../../warehouse/warehouse.ts';
import { describeRollout } from './describe.ts';
import { rolloutPageHtml } from './page.ts';
import { parseDecisionsQuery, parseTrafficQuery, readDecisions, readTraffic } from './traffic.ts';
import type { RolloutSource } from './types.ts';

/** Options of {@link registerRolloutPage}. */
export interface RolloutPageOptions {
  /** Where traffic and decisions are read. */
  warehouse: Warehouse;
  /** The controller's rollouts (its `rollouts` API has `list()`). */
  rollouts: RolloutSource;
  /**
   * The configured model names (read on every request, so a reload is seen); the page shows
   * these and the models of rollouts, never another name found in ClickHouse. Default: none
   * (the models of rollouts only).
   */
  models?: () => Iterable<string>;
  /** Path prefix; default `/ui`. */
  prefix?: string;
  logger?: Logger;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/**
 * Adds the page's routes to `app` (call before `listen`). They live in their own plugin scope, so
 * the page's error handler does not change the app's.
 */
export function registerRolloutPage(app: FastifyInstance, opts: RolloutPageOptions): void {
  const prefix = (opts.prefix ?? '/ui').replace(/\/+$/, '');
  if (!/^(\/[A-Za-z0-9_-]+)+$/.test(prefix)) throw new Error(`rollout page: prefix must look like /ui, got ${JSON.stringify(opts.prefix)}`);
  const log = opts.logger ?? silentLogger();
  const now = opts.now ?? Date.now;
  const html = rolloutPageHtml(prefix);
  void app.register(async (scope) => {
    scope.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      if (err instanceof MlgateError) {
        if (err.statusCode >= 500) log.warn({ err, route: req.routeOptions.url }, 'rollout page query failed');
        return reply.code(err.statusCode).send(err.toJSON());
      }
      log.error({ err, route: req.routeOptions.url }, 'rollout page error');
      return reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500).send({ error: { code: 'internal_error', message: 'the page could not be served' } });
    });
    scope.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:").send(html));
    scope.get('/api/rollouts', async () => {
      const t = now();
      const list = [...(await opts.rollouts.list())].sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id));
      return { at: t, rollouts: list.map((rollout) => ({ rollout, display: describeRollout(rollout, t) })) };
    });
    scope.get('/api/traffic', async (req) => {
      const q = parseTrafficQuery(req.query);
      const models = new Set(opts.models?.() ?? []);
      for (const r of await opts.rollouts.list()) models.add(r.model);
      return readTraffic(opts.warehouse, q, [...models].sort(), now());
    });
    scope.get('/api/decisions', async (req) => readDecisions(opts.warehouse, parseDecisionsQuery(req.query)));
  }, { prefix });
}
