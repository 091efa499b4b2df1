/**
 * `mlgate ingester [--config FILE]`: runs the Kafka (or local-log) to ClickHouse ingester until
 * SIGTERM/SIGINT. Serves /metrics and /healthz on `ingester.http.port` (default 9465).
 */
import type { EnvSnapshot } from '../../core/env.ts';
import { runIngesterCommand } from '../../ingester/main.ts';
import { CONFIG_OPTION, HELP_OPTION, configFileOf, parseCommand, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'ingester',
  usage: '[--config FILE]',
  description: `Consumes telemetry (Kafka topic, or the local log in embedded mode), validates each event,
inserts batches into ClickHouse exactly once, and sends bad messages to the dead-letter topic.
Runs the schema migrations first. Serves /metrics and /healthz (ingester.http.port, default 9465).
Several ingesters may run against one topic: Kafka shares the partitions among them.
SIGTERM or SIGINT stop it after the batch in flight is committed.`,
  options: [CONFIG_OPTION, HELP_OPTION],
  examples: ['KAFKA_BROKERS=127.0.0.1:9092 CLICKHOUSE_URL=http://127.0.0.1:8123 mlgate ingester --config deploy/mlgate.yml'],
};

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string }>(HELP, argv, { config: { type: 'string', short: 'c' } });
  if (typeof parsed === 'number') return parsed;
  const configFile = configFileOf(parsed.values.config, env);
  return runIngesterCommand(configFile, env);
}
