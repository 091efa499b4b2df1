/**
 * `mlgate gateway --config FILE`: runs the gateway until SIGTERM or SIGINT, then shuts down
 * gracefully (stop accepting, finish in-flight requests within the deadline, flush telemetry).
 * An invalid config stops it before anything listens, naming the field's path and the reason.
 */
import type { EnvSnapshot } from '../../core/env.ts';
import { runUntilSignal } from '../../core/lifecycle.ts';
import { runGateway } from '../../gateway/main.ts';
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
  const proc = await runGateway({ configFile, env });
  const { gateway, logger } = proc;
  logger.info({ url: gateway.url, admin_url: gateway.adminUrl, metrics_url: gateway.metricsUrl }, 'mlgate gateway ready');
  // A second signal exits at once; a stop that fails or overruns makes the exit code 1.
  return runUntilSignal({ logger, lifecycle: proc });
}
