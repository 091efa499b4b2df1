/**
 * `mlgate controller [--config FILE]`: runs the canary controller until SIGTERM/SIGINT. Serves
 * its API and /metrics on `controller.port` (default 9466). See docs/controller.md.
 */
import { parseArgs } from 'node:util';
import type { EnvSnapshot } from '../../core/env.ts';
import { runControllerCommand } from '../../controller/service/main.ts';

const HELP = `usage: mlgate controller [--config FILE]

Runs rollouts: every tick it compares each canary with its stable version over the same window
of ClickHouse data, decides (wait, promote, roll back, pause), writes the decision with its
evidence to canary_decisions and publishes the routing state on the control topic. Rollouts come
from controller.rollouts / controller.rolloutsFile and from the API (POST /v1/rollouts).
With Kafka brokers configured, several controllers may run: one leads, the others stand by.
Runs the schema migrations first. API and /metrics on controller.port (default 9466).`;

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { config?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    console.error(`mlgate controller: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  return runControllerCommand(values.config ?? env.MLGATE_CONFIG, env);
}
