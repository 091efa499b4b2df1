/**
 * The controller process, wiring only: read the `controller`, `kafka`, `warehouse`, `log` and
 * `dataDir` sections, open the warehouse and run the migrations, build the control channel
 * (Kafka when brokers are set, else in-process: a lone controller then publishes to nobody) and
 * the leader elector (Kafka consumer group, or `always`), start the controller, stop in order.
 */
import type { DestinationStream } from 'pino';
import { Registry } from 'prom-client';
import { collectNodeMetrics } from '../../core/node-metrics.ts';
import { loadConfig } from '../../core/config.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { Lifecycle, runUntilSignal } from '../../core/lifecycle.ts';
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
  /** Graceful stop: controller (leaves the election), control channel, warehouse; true when each stopped in time. */
  stop(): Promise<boolean>;
}

/** Starts the controller from a parsed process config. */
export async function startControllerProcess(cfg: ControllerProcessConfigT, logger: Logger): Promise<ControllerProcess> {
  const c = cfg.controller;
  const brokers = cfg.kafka.brokers;
  const mode = c.leader.mode ?? (brokers?.length ? 'kafka' : 'always');
  if (mode === 'kafka' && !brokers?.length) throw ControllerErrors.badOptions('controller.leader.mode is kafka but kafka.brokers is not set');
  const parts = new Lifecycle(logger);
  try {
    const warehouse = await createWarehouse(cfg.warehouse, { logger: componentLogger(logger, 'warehouse'), dataDir: cfg.dataDir });
    parts.started('warehouse', () => warehouse.close());
    const control = createControlChannel({ kafka: cfg.kafka, topic: c.controlTopic, logger: componentLogger(logger, 'control') });
    parts.started('control channel', () => control.close());
    await migrate(warehouse, { retention: cfg.warehouse.retention, dedupWindow: cfg.warehouse.dedupWindow, cluster: cfg.warehouse.cluster, logger });
    const leader: LeaderElector | 'always' = mode === 'always' ? 'always' : new KafkaLeaderElector({
      brokers: brokers!, clientId: `${cfg.kafka.clientId}-controller`, instanceId: c.instanceId, topic: c.leader.topic,
      groupId: c.leader.groupId, sessionTimeoutMs: c.leader.sessionTimeoutMs, connectionTimeoutMs: cfg.kafka.connectionTimeoutMs,
      logger: componentLogger(logger, 'leader'),
    });
    const registry = new Registry();
    collectNodeMetrics(registry); // promtool-clean (no *_total gauges)
    const controller = await startController({ config: c, warehouse, control, logger, registry, leader });
    // Stops first: leaves the election before the channel and the warehouse close.
    parts.started('controller', () => controller.close());
    return { controller, logger, stop: () => parts.stop() };
  } catch (err) {
    await parts.stop();
    throw err;
  }
}

/** `mlgate controller`: loads the config, starts, runs until SIGTERM/SIGINT (exit 0; 1 when a part did not stop cleanly). */
export async function runControllerCommand(configFile: string | undefined, env: EnvSnapshot, destination?: DestinationStream): Promise<number> {
  const cfg = loadConfig(ControllerProcessConfig, configFile, env);
  const logger = createLogger({ service: 'controller', level: cfg.log.level, ...(destination ? { destination } : {}) });
  const proc = await startControllerProcess(cfg, logger);
  logger.info({ url: proc.controller.url }, 'controller started');
  return runUntilSignal({ logger, lifecycle: proc });
}
