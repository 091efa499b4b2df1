/**
 * `mlgate gateway --config FILE`: runs the gateway until SIGTERM or SIGINT, then shuts down
 * gracefully (stop accepting, finish in-flight requests within the deadline, flush telemetry).
 * An invalid config stops it before anything listens, naming the field's path and the reason.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../../core/config.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { DEFAULT_STOP_DEADLINE_MS, runUntilSignal, watchSignals } from '../../core/lifecycle.ts';
import { createLogger } from '../../core/log.ts';
import { workerSlotOf } from '../../gateway/cluster-messages.ts';
import { startGatewayPrimary } from '../../gateway/cluster-primary.ts';
import { runGatewayWorker } from '../../gateway/cluster-worker.ts';
import { workerCount } from '../../gateway/config.ts';
import { GatewayProcessConfig, runGateway } from '../../gateway/main.ts';
import { HELP_OPTION, configFileOf, parseCommand, usageFailure, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'gateway',
  usage: '--config FILE',
  description: `Runs the gateway: the HTTP entry point for model calls (POST /v1/models/<model>/predict and the
OpenAI-compatible routes). It authenticates consumers, applies limits, routes each call to a model
version by the weights of its rollout (the control topic or the routing file), and records one
telemetry event per call (Kafka, or the local log in embedded mode). GET /healthz on the data port
(gateway.port, default 8080) answers 503 while draining; the admin API, its /healthz and
/metrics listen on gateway.admin.port (default 8081). SIGTERM or SIGINT stop it gracefully: no
new connections, in-flight calls finish, telemetry is flushed.`,
  options: [
    ['-c, --config FILE', 'the YAML config, required (or $MLGATE_CONFIG); the distributed example is deploy/mlgate.yml'],
    HELP_OPTION,
  ],
  examples: ['KAFKA_BROKERS=127.0.0.1:9092 mlgate gateway --config deploy/mlgate.yml'],
};

/** Runs the gateway; resolves with the exit code once it has stopped. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string }>(HELP, argv, { config: { type: 'string', short: 'c' } });
  if (typeof parsed === 'number') return parsed;
  const configFile = configFileOf(parsed.values.config, env);
  if (!configFile) return usageFailure(HELP, '--config FILE is required');
  const slot = workerSlotOf(env);
  if (cluster.isWorker && slot) return runGatewayWorker({ configFile, env, slot });
  const workers = workersOf(configFile, env);
  if (workers > 1) return runPrimary(configFile, env, workers);
  const proc = await runGateway({ configFile, env });
  const { gateway, logger } = proc;
  logger.info({ url: gateway.url, admin_url: gateway.adminUrl, metrics_url: gateway.metricsUrl }, 'mlgate gateway ready');
  // A second signal exits at once; a stop that fails or overruns makes the exit code 1.
  return runUntilSignal({ logger, lifecycle: proc });
}

/** How many gateway processes the config asks for (validates the whole file first). */
function workersOf(configFile: string, env: EnvSnapshot): number {
  const cfg = loadConfig(GatewayProcessConfig, configFile, env);
  return workerCount(cfg.gateway.workers, availableParallelism());
}

/** The cluster primary: forks the workers, then waits for a signal (or for the workers to keep failing). */
async function runPrimary(configFile: string, env: EnvSnapshot, workers: number): Promise<number> {
  const cfg = loadConfig(GatewayProcessConfig, configFile, env);
  const logger = createLogger({ service: 'gateway', level: cfg.log.level });
  // Install the handlers before the workers start, so a signal during the start still stops them.
  const watch = watchSignals({ logger, repeatGraceMs: 2_000 });
  const primary = startGatewayPrimary({ workers, logger, stopDeadlineMs: cfg.gateway.shutdownTimeoutMs + DEFAULT_STOP_DEADLINE_MS });
  try {
    const urls = await Promise.race([primary.ready, watch.signalled.then(() => undefined)]);
    if (urls) logger.info({ workers, url: urls.url, admin_url: urls.adminUrl, metrics_url: urls.adminUrl ? `${urls.adminUrl}/metrics` : '' }, 'mlgate gateway ready');
  } catch (err) {
    await primary.stop();
    watch.dispose();
    throw err;
  }
  return runUntilSignal({ logger, lifecycle: primary, failure: primary.failure }, watch);
}
