/**
 * `mlgate ingester [--config FILE]`: runs the Kafka (or local-log) to ClickHouse ingester until
 * SIGTERM/SIGINT. Serves /metrics and /healthz on `ingester.http.port` (default 9465).
 */
import { parseArgs } from 'node:util';
import type { EnvSnapshot } from '../../core/env.ts';
import { runIngesterCommand } from '../../ingester/main.ts';

const HELP = `usage: mlgate ingester [--config FILE]

Consumes telemetry (Kafka topic, or the local log in embedded mode), validates each event,
inserts batches into ClickHouse exactly once, and sends bad messages to the dead-letter topic.
Runs the schema migrations first. Serves /metrics and /healthz (ingester.http.port, default 9465).`;

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { config?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    console.error(`mlgate ingester: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  return runIngesterCommand(values.config ?? env.MLGATE_CONFIG, env);
}
