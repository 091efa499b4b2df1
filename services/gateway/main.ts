/**
 * The gateway process, wiring only: read and validate the config file (sections `gateway`,
 * `telemetry`, `kafka`, `log`, `dataDir`, and `warehouse` when present), build the logger,
 * hasher, redactor, sink and tracing SDK, start the gateway with config reload on POST
 * /admin/reload, and stop it all in order. With a `warehouse` section (or CLICKHOUSE_URL) every
 * admin change is recorded in the hash-chained `admin_changes` table before it takes effect, as
 * in embedded mode; without one it is kept in memory only (a warning says so at start).
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { Registry } from 'prom-client';
import { KafkaSection, LogSection, loadConfig } from '../core/config.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { componentLogger, createLogger, type Logger } from '../core/log.ts';
import type { DestinationStream } from 'pino';
import { createChainedAdminChangeRecorder } from '../audit/admin-change-recorder.ts';
import { adminChainId, type AdminChangeRecorder } from '../control/admin-changes.ts';
import type { ControlChannel } from '../control/channel.ts';
import { createControlChannel } from '../control/factory.ts';
import { StartupTolerantChannel } from '../control/startup-tolerant.ts';
import { TelemetrySection } from '../telemetry/config.ts';
import { createSink } from '../telemetry/factory.ts';
import { createHasher } from '../telemetry/hash.ts';
import { createRedactor } from '../telemetry/redact.ts';
import { WarehouseSection } from '../warehouse/config.ts';
import { createWarehouse, type Warehouse } from '../warehouse/warehouse.ts';
import { GatewaySection } from './config.ts';
import { startGateway, type RunningGateway } from './gateway.ts';
import type { GatewayHooks } from './hooks.ts';
import { startTracingSdk } from './tracing-sdk.ts';

/** The sections the gateway process reads (other services' sections are ignored). */
export const GatewayProcessConfig = z.object({
  gateway: GatewaySection,
  telemetry: TelemetrySection,
  kafka: KafkaSection.prefault({}),
  log: LogSection.prefault({}),
  dataDir: z.string().min(1).default('./data'),
  /** Where admin changes are recorded (`admin_changes`); absent: in memory only. The schema is made by `mlgate migrate` (or the ingester, the controller). */
  warehouse: WarehouseSection.optional(),
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
}

/** A running gateway process. */
export interface GatewayProcess {
  gateway: RunningGateway;
  logger: Logger;
  /** Graceful stop: gateway, then sink, then tracing. */
  stop(): Promise<void>;
}

/** Loads the config (throws MLG_CORE_CONFIG_INVALID naming the field) and starts everything. */
export async function runGateway(opts: RunGatewayOptions): Promise<GatewayProcess> {
  const cfg = loadConfig(GatewayProcessConfig, opts.configFile, opts.env);
  const logger = createLogger({ service: 'gateway', level: cfg.log.level, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const registry = new Registry();
  const sink = createSink({ telemetry: cfg.telemetry, kafka: cfg.kafka, dataDir: cfg.dataDir, logger, registry });
  const tracing = await startTracingSdk(cfg.gateway.tracing);
  const hasherOptions = { key: cfg.telemetry.hashing.key, keyId: cfg.telemetry.hashing.keyId };
  const r = cfg.telemetry.redaction;
  const redactorOptions = { maxChars: r.maxChars, maskPaths: r.maskPaths, ...(r.maskKeys ? { maskKeys: r.maskKeys } : {}) };
  // Kafka down at start must not stop the models' traffic: wait a little for the control topic,
  // then serve the configured routing and catch up when Kafka answers (services/control/startup-tolerant.ts).
  const ownControl = opts.control ? undefined : cfg.kafka.brokers?.length
    ? new StartupTolerantChannel(createControlChannel({ kafka: cfg.kafka, logger }), { startupTimeoutMs: 5000, retryMs: 5000, logger })
    : createControlChannel({ kafka: cfg.kafka, logger });
  const control = opts.control ?? ownControl!;
  const gatewayId = cfg.gateway.id || `${hostname()}-${process.pid}`;
  // The warehouse is opened without contacting it: traffic flows while ClickHouse is down; an
  // admin change then fails (not recorded, so not applied) naming the warehouse error.
  let warehouse: Warehouse | undefined;
  let recorder = opts.recorder;
  if (!recorder && cfg.warehouse) {
    try {
      warehouse = await createWarehouse(cfg.warehouse, { dataDir: cfg.dataDir, logger: componentLogger(logger, 'warehouse') });
    } catch (err) {
      await sink.close().catch(() => {});
      await ownControl?.close().catch(() => {});
      await tracing.shutdown().catch(() => {});
      throw err;
    }
    recorder = createChainedAdminChangeRecorder(warehouse, { chainId: adminChainId(gatewayId), logger: componentLogger(logger, 'admin-changes') });
  } else if (!recorder) {
    logger.warn('no warehouse section: admin changes are kept in memory only and lost at restart (configure warehouse or CLICKHOUSE_URL to record them in admin_changes)');
  }
  let gateway: RunningGateway;
  try {
    gateway = await startGateway({
      config: cfg.gateway,
      sink,
      hasher: createHasher(hasherOptions),
      consumerIds: cfg.telemetry.consumerIds,
      redactor: createRedactor(redactorOptions),
      eventWorker: { hasher: hasherOptions, redactor: redactorOptions },
      logger,
      control,
      gatewayId,
      ...(recorder ? { recorder } : {}),
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
      registry,
      ...(tracing.provider ? { tracerProvider: tracing.provider } : {}),
      reload: () => loadConfig(GatewayProcessConfig, opts.configFile, opts.env).gateway,
    });
  } catch (err) {
    await sink.close().catch(() => {});
    await ownControl?.close().catch(() => {});
    await tracing.shutdown().catch(() => {});
    await warehouse?.close().catch(() => {});
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    await gateway.close();
    await sink.close();
    await ownControl?.close().catch((err: unknown) => logger.warn({ err }, 'control channel close failed'));
    await warehouse?.close().catch((err: unknown) => logger.warn({ err }, 'warehouse close failed'));
    await tracing.shutdown().catch((err: unknown) => logger.warn({ err }, 'tracing shutdown failed'));
    logger.flush?.();
  };
  return { gateway, logger, stop: () => (stopping ??= stop()) };
}
