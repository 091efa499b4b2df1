/**
 * The gateway process, wiring only: read and validate the config file (sections `gateway`,
 * `telemetry`, `kafka`, `log`, `dataDir`, and `warehouse` when present), build the logger,
 * hasher, redactor, sink and tracing SDK, start the gateway with config reload on POST
 * /admin/reload, and stop it all in order. With a `warehouse` section (or CLICKHOUSE_URL) every
 * admin change is recorded in the hash-chained `admin_changes` table before it takes effect, as
 * in embedded mode; without one it is kept in memory only (a warning says so at start).
 */
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { Registry } from 'prom-client';
import { KafkaSection, LogSection, loadConfig } from '../core/config.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { componentLogger, createLogger, type Logger } from '../core/log.ts';
import type { DestinationStream } from 'pino';
import { createChainedAdminChangeRecorder } from '../ledger/chained-admin-changes.ts';
import { adminChainId, type AdminChangeRecorder } from '../ledger/admin-changes.ts';
import type { ControlChannel } from '../routing/channel.ts';
import { createControlChannel } from '../routing/channel-factory.ts';
import { TelemetrySection } from '../telemetry/config.ts';
import { deadLetterFile, spillDir } from '../telemetry/factory.ts';
import { WarehouseSection } from '../warehouse/config.ts';
import { createWarehouse } from '../warehouse/warehouse.ts';
import { assembleGateway, gatewayControlOf, gatewayIdOf } from './assemble.ts';
import { followConsumerTables } from './consumer-sync.ts';
import type { WorkerSlot } from './cluster-messages.ts';
import { GatewaySection } from './config.ts';
import type { RunningGateway } from './gateway.ts';
import type { GatewayHooks } from './proxy/edge-hooks.ts';

/** The sections the gateway process reads (other services' sections are ignored). */
export const GatewayProcessConfig = z.object({
  gateway: GatewaySection,
  telemetry: TelemetrySection,
  kafka: KafkaSection.prefault({}),
  log: LogSection.prefault({}),
  dataDir: z.string().min(1).default('./data'),
  /** Where admin changes are recorded (`admin_changes`); absent: in memory only. The schema is made by `mlgate migrate` (or the ingester, the controller). */
  warehouse: WarehouseSection.optional(),
}).superRefine((c, ctx) => {
  // Workers follow admin changes (routing states, consumer tables) through the Kafka topics.
  if (c.gateway.workers !== 1 && !c.kafka.brokers?.length) {
    ctx.addIssue({ code: 'custom', path: ['gateway', 'workers'], message: 'more than one worker needs kafka.brokers (each worker follows routing and consumer changes through the control topics)' });
  }
});

/** Parsed process config. */
export type GatewayProcessConfig = z.output<typeof GatewayProcessConfig>;

/** Options of {@link runGateway}. */
export interface RunGatewayOptions {
  /** YAML config file. */
  configFile: string;
  env: EnvSnapshot;
  /** Log destination (default stdout). */
  logDestination?: DestinationStream;
  /**
   * Control channel. Default: the Kafka channel (compacted `mlgate.control.v1`) when
   * `kafka.brokers` is configured, so the gateway follows the controller; else an in-process one
   * (this gateway's admin API only).
   */
  control?: ControlChannel;
  hooks?: GatewayHooks;
  /** Admin-change recorder. Default: `admin_changes` in the configured warehouse, else in memory. */
  recorder?: AdminChangeRecorder;
  /** This process is worker `slot.index` of a cluster (`gateway.workers` > 1): see {@link asWorker}. */
  worker?: WorkerSlot;
  /** What GET /metrics on the admin port serves (a worker: the cluster's aggregate). */
  adminMetrics?: Registry;
  /** Called when POST /admin/reload re-reads the file (worker 1 tells the others). */
  onReload?: () => void;
}

/**
 * A cluster worker's view of the config: every worker takes the same gateway id (`gateway.id`,
 * else `<hostname>-<primary pid>`: the aggregated metrics sum over one `gateway` label), only
 * worker 1 serves the admin API, and each worker has its own spill directory and dead-letter
 * file (`<spill dir>/worker-<n>`), which the next worker of the same slot replays.
 */
export function asWorker(cfg: GatewayProcessConfig, slot: WorkerSlot): GatewayProcessConfig {
  const t = cfg.telemetry;
  const id = cfg.gateway.id || `${hostname()}-${slot.primaryPid}`;
  return {
    ...cfg,
    gateway: { ...cfg.gateway, id, admin: { ...cfg.gateway.admin, enabled: cfg.gateway.admin.enabled && slot.index === 1 } },
    telemetry: {
      ...t,
      spill: { ...t.spill, dir: join(spillDir(t, cfg.dataDir), `worker-${slot.index}`) },
      deadLetterFile: join(dirname(deadLetterFile(t, cfg.dataDir)), `telemetry-dead-letter.worker-${slot.index}.jsonl`),
    },
  };
}

/** A running gateway process. */
export interface GatewayProcess {
  gateway: RunningGateway;
  logger: Logger;
  /** Graceful stop: gateway, then sink, tracing, control channel, warehouse; true when every part stopped in time. */
  stop(): Promise<boolean>;
}

/** Loads the config (throws MLG_CORE_CONFIG_INVALID naming the field) and starts everything. */
export async function runGateway(opts: RunGatewayOptions): Promise<GatewayProcess> {
  const load = () => {
    const c = loadConfig(GatewayProcessConfig, opts.configFile, opts.env);
    return opts.worker ? asWorker(c, opts.worker) : c;
  };
  const cfg = load();
  const logger = createLogger({ service: 'gateway', level: cfg.log.level, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const lifecycle = new Lifecycle(logger);
  try {
    const ownControl = opts.control ? undefined : createControlChannel({ kafka: cfg.kafka, logger });
    const control = opts.control ?? gatewayControlOf(ownControl!, cfg.kafka, logger);
    if (!opts.control) lifecycle.started('control channel', () => control.close());
    // The warehouse is opened without contacting it: traffic flows while ClickHouse is down; an
    // admin change then fails (not recorded, so not applied) naming the warehouse error.
    let recorder = opts.recorder;
    const admin = cfg.gateway.admin.enabled;
    if (!recorder && cfg.warehouse && admin) {
      const warehouse = await createWarehouse(cfg.warehouse, { dataDir: cfg.dataDir, logger: componentLogger(logger, 'warehouse') });
      lifecycle.started('warehouse', () => warehouse.close());
      recorder = createChainedAdminChangeRecorder(warehouse, { chainId: adminChainId(gatewayIdOf(cfg.gateway)), logger: componentLogger(logger, 'admin-changes') });
    } else if (!recorder && admin) {
      logger.warn('no warehouse section: admin changes are kept in memory only and lost at restart (configure warehouse or CLICKHOUSE_URL to record them in admin_changes)');
    }
    const { gateway } = await assembleGateway({
      gateway: cfg.gateway, telemetry: cfg.telemetry, kafka: cfg.kafka, dataDir: cfg.dataDir, logger, lifecycle, control,
      registry: new Registry(), ...(recorder ? { recorder } : {}), ...(opts.hooks ? { hooks: opts.hooks } : {}),
      ...(opts.adminMetrics ? { adminMetrics: opts.adminMetrics } : {}), ...(opts.worker ? { worker: opts.worker.index } : {}),
      reload: () => {
        const g = load().gateway;
        opts.onReload?.();
        return g;
      },
    });
    // Consumer and key changes shared with the other gateways (Kafka and the edge on): services/gateway/consumer-sync.ts.
    const consumers = await followConsumerTables(gateway, { kafka: cfg.kafka, logger: componentLogger(logger, 'consumers') });
    if (consumers.active) lifecycle.started('consumer tables', () => consumers.close());
    let stopping: Promise<boolean> | undefined;
    const stop = async () => {
      const clean = await lifecycle.stop();
      logger.flush?.();
      return clean;
    };
    return { gateway, logger, stop: () => (stopping ??= stop()) };
  } catch (err) {
    await lifecycle.stop();
    throw err;
  }
}
