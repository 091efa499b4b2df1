/**
 * `mlgate controller [--config FILE]`: runs the canary controller until SIGTERM/SIGINT. Serves
 * its API and /metrics on `controller.port` (default 9466). See docs/controller.md.
 */
import type { EnvSnapshot } from '../../core/env.ts';
import { runControllerCommand } from '../../controller/service/main.ts';
import { CONFIG_OPTION, HELP_OPTION, configFileOf, parseCommand, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'controller',
  usage: '[--config FILE]',
  description: `Runs rollouts: every tick it compares each canary with its stable version over the same window
of ClickHouse data, decides (wait, promote, roll back, pause), writes the decision with its
evidence to canary_decisions and publishes the routing state on the control topic. Rollouts come
from controller.rollouts / controller.rolloutsFile and from the API (POST /v1/rollouts).
With Kafka brokers configured, several controllers may run: one leads, the others stand by.
Runs the schema migrations first. API, /healthz (with whether this instance leads) and /metrics on
controller.port (default 9466). SIGTERM or SIGINT stop it.`,
  options: [CONFIG_OPTION, HELP_OPTION],
  examples: ['KAFKA_BROKERS=127.0.0.1:9092 CLICKHOUSE_URL=http://127.0.0.1:8123 mlgate controller --config deploy/mlgate.yml'],
};

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string }>(HELP, argv, { config: { type: 'string', short: 'c' } });
  if (typeof parsed === 'number') return parsed;
  const configFile = configFileOf(parsed.values.config, env);
  return runControllerCommand(configFile, env);
}
