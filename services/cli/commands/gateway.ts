/**
 * `mlgate gateway --config FILE`: runs the gateway until SIGTERM or SIGINT, then shuts down
 * gracefully (stop accepting, finish in-flight requests within the deadline, flush telemetry).
 * An invalid config stops it before anything listens, naming the field's path and the reason.
 */
import { parseArgs } from 'node:util';
import type { EnvSnapshot } from '../../core/env.ts';
import { runGateway } from '../../gateway/main.ts';

const USAGE = 'usage: mlgate gateway --config FILE';

/** Runs the gateway; resolves with the exit code once it has stopped. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let configFile: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    configFile = values.config ?? env.MLGATE_CONFIG;
  } catch (err) {
    console.error(`mlgate gateway: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!configFile) {
    console.error(`mlgate gateway: --config FILE is required\n${USAGE}`);
    return 2;
  }
  const proc = await runGateway({ configFile, env });
  const { gateway, logger } = proc;
  logger.info({ url: gateway.url, admin_url: gateway.adminUrl, metrics_url: gateway.metricsUrl }, 'mlgate gateway ready');
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      signalled = true;
      logger.info({ signal }, 'shutting down');
      proc.stop().then(() => resolve(0), (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
