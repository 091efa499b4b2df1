/**
 * The controller process, wiring only: read the `controller`, `kafka`, `warehouse`, `log` and
 * `dataDir` sections, open the warehouse and run the migrations, build the control channel
 * (Kafka when brokers are set, else in-process: a lone controller then publishes to nobody) and
 * the leader elector (Kafka consumer group, or `always`), start the controller, stop in order.
 */
import type { DestinationStream } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { loadConfig } from '../../core/config.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { componentLogger, createLogger, type Logger } from '../../core/log.ts';
import { createControlChannel } from '../../routing/channel-factory.ts';
import { migrate } from '../../warehouse/migrate.ts';
import { createWarehouse } from '../../warehouse/warehouse.ts';
import { ControllerProcessConfig, type ControllerProcessConfigT } from './config.ts';
import { ControllerErrors } from '../errors.ts';
import { KafkaLeaderElector, type LeaderElector } from './leader.ts';
import { startController, type RunningController } from './controller.ts';

/** A running controller process. */
export interface ControllerProcess {
  readonly controller: RunningController;
  readonly logger: Logger;
  /** Graceful stop: controller (leaves the election), control channel, warehouse. */
  stop(): Promise<void>;
}

/** Starts the controller from a parsed process config. */
export async function startControllerProcess(cfg: ControllerProcessConfigT, logger: Logger): Promise<ControllerProcess> {
  const c = cfg.controller;
  const brokers = cfg.kafka.brokers;
  const mode = c.leader.mode ?? (brokers?.length ? 'kafka' : 'always');
  if (mode === 'kafka' && !brokers?.length) throw ControllerErrors.badOptions('controller.leader.mode is kafka but kafka.brokers is not set');
  const warehouse = await createWarehouse(cfg.warehouse, { logger: componentLogger(logger, 'warehouse'), dataDir: cfg.dataDir });
  const control = createControlChannel({ kafka: cfg.kafka, topic: c.controlTopic, logger: componentLogger(logger, 'control') });
  try {
    await migrate(warehouse, { retention: cfg.warehouse.retention, dedupWindow: cfg.warehouse.dedupWindow, logger });
    const leader: LeaderElector | 'always' = mode === 'always' ? 'always' : new KafkaLeaderElector({
      brokers: brokers!, clientId: `${cfg.kafka.clientId}-controller`, instanceId: c.instanceId, topic: c.leader.topic,
      groupId: c.leader.groupId, sessionTimeoutMs: c.leader.sessionTimeoutMs, connectionTimeoutMs: cfg.kafka.connectionTimeoutMs,
      logger: componentLogger(logger, 'leader'),
    });
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const controller = await startController({ config: c, warehouse, control, logger, registry, leader });
    let stopping: Promise<void> | undefined;
    return {
      controller, logger,
      stop: () => (stopping ??= (async () => {
        await controller.close();
        await control.close();
        await warehouse.close();
      })()),
    };
  } catch (err) {
    await control.close().catch(() => {});
    await warehouse.close().catch(() => {});
    throw err;
  }
}

/** `mlgate controller`: loads the config, starts, runs until SIGTERM/SIGINT (exit 0). */
export async function runControllerCommand(configFile: string | undefined, env: EnvSnapshot, destination?: DestinationStream): Promise<number> {
  const cfg = loadConfig(ControllerProcessConfig, configFile, env);
  const logger = createLogger({ service: 'controller', level: cfg.log.level, ...(destination ? { destination } : {}) });
  const proc = await startControllerProcess(cfg, logger);
  logger.info({ url: proc.controller.url }, 'controller started');
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'shutting down');
  await proc.stop();
  return 0;
}
