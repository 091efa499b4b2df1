/**
 * `startEmbedded(config)`: every mlgate service in one process (docs/embedded.md):
 *
 *   model servers (optional) → gateway ──local log──▶ ingester ──▶ embedded ClickHouse (chdb)
 *                                 ▲                                    │
 *                                 └── in-process control channel ◀── controller (+ rollout page)
 *                                                                audit API ◀┘
 *
 * Start order is chosen for the time to the first prediction: the model servers and the gateway
 * start while the warehouse opens and migrates; the ingester, controller, rollout page and audit
 * API follow once the schema is there. Stop order: the gateway drains and flushes its telemetry,
 * then the ingester stores what it can reach (the local log, or the topic) within
 * `embedded.stopDrainMs` and commits, then the controller, the listeners, the control channel,
 * the warehouse and the model servers. Events left after that deadline stay in the local log (or
 * the topic) and are ingested on the next start.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { ControlChannel } from '../routing/channel.ts';
import { InProcessControlChannel } from '../routing/channel.ts';
import { createControlChannel } from '../routing/channel-factory.ts';
import { createChainedAdminChangeRecorder } from '../ledger/chained-admin-changes.ts';
import { adminChainId } from '../ledger/admin-changes.ts';
import { DEFAULT_STOP_DEADLINE_MS, Lifecycle } from '../core/lifecycle.ts';
import { componentLogger, type Logger } from '../core/log.ts';
import { startController, type RunningController } from '../controller/service/controller.ts';
import { startModelServer, type ModelServer } from './stand-in/model-server.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import { assembleGateway, gatewayControlOf, gatewayIdOf } from '../gateway/assemble.ts';
import type { RunningGateway } from '../gateway/gateway.ts';
import type { GatewayHooks } from '../gateway/proxy/edge-hooks.ts';
import { startIngesterService, type IngesterService } from '../ingester/main.ts';
import type { Hasher } from '../telemetry/hash.ts';
import type { TelemetryConfig } from '../telemetry/config.ts';
import { migrate } from '../warehouse/migrate.ts';
import { createWarehouse, type Warehouse } from '../warehouse/warehouse.ts';
import type { EmbeddedConfig } from './config.ts';
import { startAuditApi, startRolloutPage, type Listener } from './listeners.ts';
import { step } from './parts.ts';
import { FileBackedControlChannel } from './routing-file.ts';

/** Options of {@link startEmbedded}. */
export interface StartEmbeddedOptions {
  /** Root logger (the caller picks where lines go). */
  logger: Logger;
  /** Gateway edge hooks (consumers, permissions). */
  hooks?: GatewayHooks;
  /** What POST /admin/reload (and `admin.reload`) re-reads; default: the gateway section given. */
  reloadGateway?: () => GatewayConfig | Promise<GatewayConfig>;
}

/** Where everything listens. Empty strings for parts that are off. */
export interface EmbeddedUrls {
  readonly gateway: string;
  readonly admin: string;
  readonly gatewayMetrics: string;
  readonly ingesterMetrics: string;
  readonly controller: string;
  readonly controllerMetrics: string;
  readonly rolloutPage: string;
  readonly audit: string;
  /** Model servers by version name. */
  readonly models: Readonly<Record<string, string>>;
}

/** A running embedded process. */
export interface RunningEmbedded {
  readonly config: EmbeddedConfig;
  readonly urls: EmbeddedUrls;
  readonly gateway: RunningGateway;
  readonly controller: RunningController;
  readonly warehouse: Warehouse;
  readonly ingester: IngesterService;
  readonly models: readonly ModelServer[];
  readonly control: ControlChannel;
  /** Milliseconds from the call to the gateway listening, and to everything started. */
  readonly timings: Readonly<{ gatewayMs: number; readyMs: number }>;
  /** Graceful stop in the order of the module comment; idempotent. True when every part stopped in time. */
  stop(): Promise<boolean>;
}

/** Longest wait at start for the controller to load its rollouts and lead. */
const LEAD_WAIT_MS = 15_000;

/** What the serving half (model servers, warehouse, control channel, sink, gateway) hands on. */
interface Front {
  models: ModelServer[];
  warehouse: Warehouse;
  migrated: Promise<unknown>;
  control: ControlChannel;
  gateway: RunningGateway;
  hasher: Hasher;
}

/** The control channel the configuration asks for, and the gateway's view of it. */
function controlChannels(cfg: EmbeddedConfig, log: Logger): { control: ControlChannel; gatewayControl: ControlChannel } {
  const control: ControlChannel = cfg.kafka.brokers?.length
    ? createControlChannel({ kafka: cfg.kafka, topic: cfg.controller.controlTopic, logger: log })
    : cfg.embedded.persistRouting
      ? new FileBackedControlChannel({ file: join(cfg.dataDir, 'control', 'routing-states.json'), logger: log })
      : new InProcessControlChannel();
  // As in `mlgate gateway`: the controller reads the channel itself.
  return { control, gatewayControl: gatewayControlOf(control, cfg.kafka, log) };
}

/**
 * The telemetry config with the spill's and the local log's `maxAgeHours` defaulting to the raw
 * retention of this warehouse (an event older than that would be TTL-deleted on arrival), when
 * the config leaves it out and rows do not live forever.
 */
export function diskAgeBound(t: TelemetryConfig, rawRetentionDays: number | null): TelemetryConfig {
  if (rawRetentionDays === null) return t;
  const hours = rawRetentionDays * 24;
  return { ...t, spill: { ...t.spill, maxAgeHours: t.spill.maxAgeHours ?? hours }, localLog: { ...t.localLog, maxAgeHours: t.localLog.maxAgeHours ?? hours } };
}

/** The back half's places in the stop order, reserved before the gateway starts (it stops first). */
interface BackSlots {
  audit: ReturnType<Lifecycle['slot']>;
  page: ReturnType<Lifecycle['slot']>;
  controller: ReturnType<Lifecycle['slot']>;
  ingester: ReturnType<Lifecycle['slot']>;
}

/** Starts the model servers and the gateway with what it needs; the migrations run meanwhile. */
async function startFront(cfg: EmbeddedConfig, opts: StartEmbeddedOptions, parts: Lifecycle): Promise<Front & { slots: BackSlots }> {
  const root = opts.logger;
  const models: ModelServer[] = [];
  for (const m of cfg.embedded.modelServers) {
    const server = await step(`model server ${m.name} (${m.host}:${m.port})`, () => startModelServer(m));
    models.push(server);
    parts.started(`model ${m.name}`, () => server.close());
  }
  const warehouse = await step('warehouse', () => createWarehouse(cfg.warehouse, { dataDir: cfg.dataDir, logger: componentLogger(root, 'warehouse') }));
  parts.started('warehouse', () => warehouse.close());
  const migrated = migrate(warehouse, { retention: cfg.warehouse.retention, dedupWindow: cfg.warehouse.dedupWindow, logger: componentLogger(root, 'migrate') });
  migrated.catch(() => {}); // awaited by the caller; a rejection before then must not go unhandled
  const { control, gatewayControl } = controlChannels(cfg, componentLogger(root, 'control'));
  parts.started('control channel', () => gatewayControl.close());
  // Stop order (the reverse): the gateway drains and its sink flushes, then the ingester stores
  // what they wrote, then the controller and the listeners.
  const slots: BackSlots = {
    audit: parts.slot('audit API'),
    page: parts.slot('rollout page'),
    controller: parts.slot('controller'),
    ingester: parts.slot('ingester', { deadlineMs: cfg.embedded.stopDrainMs + DEFAULT_STOP_DEADLINE_MS }),
  };
  const gatewayId = gatewayIdOf(cfg.gateway);
  const { gateway, hasher } = await assembleGateway({
    gateway: cfg.gateway, telemetry: diskAgeBound(cfg.telemetry, cfg.warehouse.retention.requests), kafka: cfg.kafka, dataDir: cfg.dataDir, logger: root, lifecycle: parts,
    control: gatewayControl, registry: new Registry(), step,
    recorder: createChainedAdminChangeRecorder(warehouse, { chainId: adminChainId(gatewayId), logger: componentLogger(root, 'admin-changes') }),
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    reload: opts.reloadGateway ?? (() => cfg.gateway),
  });
  return { models, warehouse, migrated, control, gateway, hasher, slots };
}

/** What the back half (ingester, controller, page, audit API) hands on. */
interface Back {
  ingester: IngesterService;
  controller: RunningController;
  page: Listener | undefined;
  audit: Listener | undefined;
}

/** Starts the ingester, the controller, the rollout page and the audit API, once the schema is there. */
async function startBack(cfg: EmbeddedConfig, front: Front & { slots: BackSlots }, root: Logger): Promise<Back> {
  const log = componentLogger(root, 'embedded');
  const { warehouse } = front;
  await step('schema migrations', () => front.migrated);
  const ingester = await step(`ingester (metrics ${cfg.ingester.http.host}:${cfg.ingester.http.port})`, () => startIngesterService({
    dataDir: cfg.dataDir, log: cfg.log, kafka: cfg.kafka, warehouse: cfg.warehouse, ingester: cfg.ingester,
    // The dead letters' age bound is the local log's (the raw retention unless configured).
    telemetry: { localLog: { dir: cfg.telemetry.localLog.dir || undefined, maxAgeHours: diskAgeBound(cfg.telemetry, cfg.warehouse.retention.requests).localLog.maxAgeHours }, hashing: cfg.telemetry.hashing },
  }, root));
  front.slots.ingester(async () => {
    // The gateway and its sink stopped first: what they wrote is reachable; store it before stopping.
    const t0 = Date.now();
    const left = await ingester.ingester.drain(cfg.embedded.stopDrainMs);
    if (left > 0) log.warn({ left, waited_ms: Date.now() - t0 }, 'stopping the ingester with events not yet stored; the next start stores them');
    else log.info({ waited_ms: Date.now() - t0 }, 'ingester drained');
    await ingester.stop();
  });
  const controller = await step(`controller (${cfg.controller.host}:${cfg.controller.port})`, () => startController({
    config: cfg.controller, warehouse, control: front.control, logger: root, registry: new Registry(), leader: 'always',
  }));
  front.slots.controller(() => controller.close());
  // It leads at once ('always'), but loads its rollouts asynchronously: wait, so the API takes changes when we return.
  const leadBy = Date.now() + LEAD_WAIT_MS;
  while (!controller.isLeader() && Date.now() < leadBy) await sleep(20);
  if (!controller.isLeader()) log.warn({ waited_ms: LEAD_WAIT_MS }, 'the controller has not loaded its rollouts yet; it keeps retrying (see its log lines)');
  let page: Listener | undefined;
  const ui = cfg.embedded.ui;
  if (ui.enabled) {
    page = await step(`rollout page (${ui.host}:${ui.port})`, () => startRolloutPage({
      host: ui.host, port: ui.port, warehouse, rollouts: controller.rollouts, logger: root,
      models: () => front.gateway.routing.all().map((s) => s.model),
    }));
    front.slots.page(() => page!.close());
  }
  let audit: Listener | undefined;
  if (cfg.embedded.auditApi && cfg.audit.tokens.length > 0) {
    audit = await step(`audit API (${cfg.audit.host}:${cfg.audit.port})`, () => startAuditApi({
      audit: cfg.audit, retention: cfg.warehouse.retention, warehouse, hasher: front.hasher, logger: root,
    }));
    front.slots.audit(() => audit!.close());
  } else if (cfg.embedded.auditApi) {
    log.info('audit API not started: audit.tokens is empty');
  }
  return { ingester, controller, page, audit };
}

/** Starts every service in this process. On a failure, what was started is stopped again. */
export async function startEmbedded(cfg: EmbeddedConfig, opts: StartEmbeddedOptions): Promise<RunningEmbedded> {
  const t0 = performance.now();
  const log = componentLogger(opts.logger, 'embedded');
  const parts = new Lifecycle(log);
  try {
    const front = await startFront(cfg, opts, parts);
    const gatewayMs = performance.now() - t0;
    const { ingester, controller, page, audit } = await startBack(cfg, front, opts.logger);
    const { gateway, warehouse, models, control } = front;
    const urls: EmbeddedUrls = {
      gateway: gateway.url, admin: gateway.adminUrl, gatewayMetrics: gateway.metricsUrl,
      ingesterMetrics: `http://${cfg.ingester.http.host}:${ingester.port}/metrics`,
      controller: controller.url, controllerMetrics: `${controller.url}/metrics`,
      rolloutPage: page ? `${page.url}/ui/` : '', audit: audit?.url ?? '',
      models: Object.fromEntries(models.map((m) => [m.name, m.url])),
    };
    const readyMs = performance.now() - t0;
    log.info({ ...urls, gateway_ms: Math.round(gatewayMs), ready_ms: Math.round(readyMs) }, 'mlgate embedded: every service started');
    let stopping: Promise<boolean> | undefined;
    return {
      config: cfg, urls, gateway, controller, warehouse, ingester, models, control,
      timings: { gatewayMs, readyMs },
      stop: () => (stopping ??= (async () => {
        log.info('stopping');
        const clean = await parts.stop();
        log.info('stopped');
        return clean;
      })()),
    };
  } catch (err) {
    await parts.stop();
    throw err;
  }
}
