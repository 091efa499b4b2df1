/**
 * `startController`: the canary controller as a component, for its own process (main.ts) and for
 * the embedded `mlgate start` (gateway + ingester + controller in one process, in-process control
 * channel). It wires the ClickHouse provider, the rollout store, the decision chain, the routing
 * follower, the tick loop, the HTTP API and the metrics, and follows leadership:
 *
 * - on taking the lead: read the control channel to its end, load every rollout from the store
 *   (re-delivering saved outboxes), add the rollouts declared in the config that are new, start
 *   ticking; if any of it fails (ClickHouse down), retry every 2 s while still leading;
 * - on losing it: stop ticking, forget the rollouts, clear the rollout metrics.
 *
 * A standby serves reads from the store; changes answer 503 MLG_CTL_NOT_LEADER.
 * The schema must be migrated (migration 0200 adds `controller_rollouts`); the caller owns the
 * warehouse and the control channel; the controller owns the leader elector (close() leaves the
 * election, so a standby takes over at once).
 */
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { readYamlFile } from '../../core/config.ts';
import { createChainedWriter } from '../../ledger/chained-writer.ts';
import type { ControlChannel } from '../../routing/channel.ts';
import { MlgateError } from '../../core/errors.ts';
import { componentLogger, silentLogger, type Logger } from '../../core/log.ts';
import type { Warehouse } from '../../warehouse/warehouse.ts';
import type { MetricsProvider } from '../analysis/input.ts';
import { createControllerApp, type RolloutsApi } from './api.ts';
import type { ControllerConfig } from './config.ts';
import { ControllerErrors } from '../errors.ts';
import { AlwaysLeader, type LeaderElector } from './leader.ts';
import { ControllerMetrics } from './prometheus.ts';
import { ClickHouseMetricsProvider, COLLECTION } from './providers/clickhouse.ts';
import { checkCustomSql } from './providers/custom-sql.ts';
import { parseRolloutSpec, type ResolvedRolloutSpec } from '../rollout/spec.ts';
import { RolloutManager } from './rollout-manager.ts';
import { RoutingFollower } from '../../routing/follower.ts';
import { Scheduler } from './scheduler.ts';
import { ClickHouseRolloutStore } from './rollout-store.ts';
import { viewOf } from './views.ts';
import { registerRolloutPage } from '../web/rollout-page.ts';

/** Options of {@link startController}. */
export interface StartControllerOptions {
  /** The parsed `controller` section. */
  config: ControllerConfig;
  /** A migrated warehouse (the caller closes it). */
  warehouse: Warehouse;
  /** Where routing states go (the caller closes it). */
  control: ControlChannel;
  logger?: Logger;
  /** Where the metrics are registered; default a new registry (served on /metrics). */
  registry?: Registry;
  /** `always` (default): this controller leads; or an elector (owned: closed by close()). */
  leader?: 'always' | LeaderElector;
  /** Clock (ms); default Date.now. */
  now?: () => number;
  /** Metrics source; default the ClickHouse provider on `warehouse`. */
  provider?: MetricsProvider;
}

/** A running controller. */
export interface RunningController {
  /** API and /metrics, e.g. http://127.0.0.1:9466. */
  readonly url: string;
  readonly instanceId: string;
  /** The rollouts API without HTTP (embedded mode, tests). */
  readonly rollouts: RolloutsApi;
  readonly metrics: ControllerMetrics;
  readonly registry: Registry;
  /** True while this controller leads and has loaded its rollouts. */
  isLeader(): boolean;
  /** Runs a scheduler turn now (tests). */
  poke(): void;
  /** Stops ticking, leaves the election, closes the API. Idempotent. */
  close(): Promise<void>;
}

/** Reads the rollout specs of the config (inline, then the file: one spec, a list, or `rollouts: [...]`), validated. @throws MLG_CTL_SPEC_INVALID naming the entry and field. */
export function configRollouts(config: ControllerConfig, parseSpec: (raw: unknown, source: string) => ResolvedRolloutSpec): ResolvedRolloutSpec[] {
  const parse = (raw: unknown, source: string): ResolvedRolloutSpec => {
    try {
      return parseSpec(raw, source);
    } catch (err) {
      // The spec parser names the field; the config also needs to say which entry.
      if (err instanceof MlgateError && !err.message.includes(source)) {
        throw ControllerErrors.specInvalid(`invalid ${source}: ${err.message.replace(/^invalid rollout spec: /, '')}`, { cause: err, ...(err.details ? { details: { ...err.details } } : {}) });
      }
      throw err;
    }
  };
  const specs = config.rollouts.map((r, i) => parse(r, `controller.rollouts.${i}`));
  if (config.rolloutsFile) {
    const doc = readYamlFile(config.rolloutsFile, 'rollouts file', ControllerErrors.specInvalid);
    const obj = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : null;
    const list = Array.isArray(doc) ? doc : obj && 'rollouts' in obj ? obj.rollouts : obj ? [obj] : null;
    if (!Array.isArray(list)) throw ControllerErrors.specInvalid(`rollouts file ${config.rolloutsFile} must hold a spec, a list of specs, or rollouts: [...]`);
    list.forEach((r, i) => specs.push(parse(r, `${config.rolloutsFile} rollouts.${i}`)));
  }
  const ids = new Set<string>();
  for (const s of specs) {
    if (ids.has(s.id)) throw ControllerErrors.specInvalid(`rollout id ${s.id} is declared twice in the config`);
    ids.add(s.id);
  }
  return specs;
}

/** Starts the controller. Rejects when the config's rollouts are invalid or the API cannot bind. */
export async function startController(opts: StartControllerOptions): Promise<RunningController> {
  const cfg = opts.config;
  const root = opts.logger ?? silentLogger();
  const log = componentLogger(root, 'controller');
  const now = opts.now ?? Date.now;
  const registry = opts.registry ?? new Registry();
  const parseSpec = (raw: unknown, source = 'rollout spec'): ResolvedRolloutSpec => {
    const override = cfg.tickOverride;
    const withTick = override && raw && typeof raw === 'object' && !Array.isArray(raw)
      ? { ...(raw as Record<string, unknown>), tick: { ...((raw as { tick?: object }).tick ?? {}), ...override } }
      : raw;
    const spec = parseRolloutSpec(withTick, source);
    spec.metrics.forEach((m, i) => { if (m.kind === 'custom_sql') checkCustomSql(m.sql, `${source}: metrics.${i}.sql`); });
    return spec;
  };
  const declared = configRollouts(cfg, parseSpec);
  const actor = `controller-${cfg.instanceId}`;
  const metrics = new ControllerMetrics(registry, now);
  const store = new ClickHouseRolloutStore(opts.warehouse);
  const elector: LeaderElector = opts.leader === undefined || opts.leader === 'always' ? new AlwaysLeader() : opts.leader;
  const routing = new RoutingFollower(opts.control, componentLogger(root, 'routing'), () => elector.epoch?.(), cfg.instanceId);
  let active = false;
  const isLeader = () => active && elector.isLeader();
  const manager = new RolloutManager({
    store, routing, metrics, now, actor, isLeader, epoch: () => elector.epoch?.(), logger: log, waitEveryS: cfg.decisions.waitEveryS, collection: COLLECTION,
    decisions: createChainedWriter(opts.warehouse, { table: 'canary_decisions', chainId: actor, logger: componentLogger(root, 'decisions') }),
    provider: opts.provider ?? new ClickHouseMetricsProvider({ warehouse: opts.warehouse, logger: componentLogger(root, 'provider'), maxSampleSize: cfg.maxSampleSize, queryTimeoutMs: cfg.queryTimeoutMs,
      customSql: {
        maxResultRows: cfg.customSql.maxResultRows, maxMemoryBytes: cfg.customSql.maxMemoryBytes,
        ...(cfg.customSql.username ? { user: { username: cfg.customSql.username, password: cfg.customSql.password } } : {}),
      },
    }),
  });
  const scheduler = new Scheduler(manager, cfg.loopMs, log);
  let closing = false;
  let retry: NodeJS.Timeout | undefined;

  const takeLead = async (): Promise<void> => {
    clearTimeout(retry);
    if (closing || !elector.isLeader() || active) return;
    try {
      await routing.sync();
      await manager.activate();
      active = true;
      for (const spec of declared) {
        if (manager.has(spec.id)) continue;
        await manager.create(spec, 'controller', 'config').catch((err: unknown) => log.error({ err, rollout: spec.id }, 'rollout from the config not created'));
      }
      metrics.isLeader.set(1);
      scheduler.start();
      log.info({ instance: cfg.instanceId, rollouts: manager.views().length }, 'leading: rollouts loaded, ticking');
    } catch (err) {
      active = false;
      manager.deactivate();
      log.error({ err }, 'could not take the lead (rollouts not loaded); retrying in 2 s');
      retry = setTimeout(() => { void transition(true); }, 2000);
      retry.unref();
    }
  };
  const stepDown = async (): Promise<void> => {
    clearTimeout(retry);
    const was = active;
    active = false;
    metrics.isLeader.set(0);
    await scheduler.stop();
    manager.deactivate();
    if (was) log.info({ instance: cfg.instanceId }, 'standing by: rollouts released');
  };
  let queue: Promise<void> = Promise.resolve();
  const transition = (lead: boolean): Promise<void> => (queue = queue.then(() => (lead ? takeLead() : stepDown())).catch((err: unknown) => log.error({ err }, 'leadership transition failed')));
  const unsubscribe = elector.onChange((lead) => { void transition(lead); });

  const rollouts: RolloutsApi = {
    list: async () => (isLeader() ? manager.views() : (await store.loadAll()).map((r) => viewOf(r, now()))),
    get: async (id) => {
      const v = isLeader() ? manager.view(id) : ((r) => (r ? viewOf(r, now()) : undefined))(await store.load(id));
      if (!v) throw ControllerErrors.notFound(`no rollout ${id}`, { details: { rollout: id } });
      return v;
    },
    create: async (raw, by) => {
      if (!isLeader()) throw ControllerErrors.notLeader('this controller is a standby; send changes to the leader');
      return manager.create(parseSpec(raw), by, 'api');
    },
    operate: (id, op, by, reason) => manager.operate(id, op, by, reason),
  };

  const app = createControllerApp({ api: rollouts, tokens: cfg.tokens, registry, logger: log, health: () => ({ leader: isLeader(), instance: cfg.instanceId }) });
  if (cfg.ui) registerRolloutPage(app, { warehouse: opts.warehouse, rollouts, logger: log });
  await app.listen({ host: cfg.host, port: cfg.port });
  const a = app.server.address() as AddressInfo;
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  try {
    await elector.start();
  } catch (err) {
    unsubscribe();
    await app.close();
    throw err;
  }
  if (elector.isLeader()) void transition(true);
  log.info({ url, instance: cfg.instanceId, declared: declared.length }, 'controller listening');

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    closing = true;
    await app.close();
    await elector.close();
    unsubscribe();
    await transition(false);
    routing.close();
    log.info({ instance: cfg.instanceId }, 'controller stopped');
  };
  return {
    url, instanceId: cfg.instanceId, rollouts, metrics, registry,
    isLeader, poke: () => scheduler.turn(), close: () => (closed ??= close()),
  };
}
