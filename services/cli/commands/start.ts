/**
 * `mlgate start [--config FILE]` (and `npm start`): every service in one process with the
 * embedded defaults (local telemetry log, embedded ClickHouse under ./data), printing where
 * everything is. Without --config it reads `MLGATE_CONFIG`, else the sample config/mlgate.yaml.
 * Logs (JSON lines) go to stderr; the banner to stdout. SIGINT/SIGTERM stop it gracefully; a
 * second signal (a second or more after the first) exits at once.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { EnvSnapshot } from '../../core/env.ts';
import { createLogger } from '../../core/log.ts';
import { bannerLines } from '../../embedded/banner.ts';
import { loadEmbeddedConfig } from '../../embedded/config.ts';
import { startEmbedded } from '../../embedded/embedded.ts';

/** The sample config used when none is given. */
export const DEFAULT_CONFIG = fileURLToPath(new URL('../../../config/mlgate.yaml', import.meta.url));

const HELP = `usage: mlgate start [--config FILE]

Runs the gateway, the ingester, the embedded ClickHouse engine, the canary controller with its
rollout page, and the audit API in one process. Default config: $MLGATE_CONFIG, else
${DEFAULT_CONFIG}. Logs go to stderr. See docs/embedded.md.`;

/** Runs until SIGINT/SIGTERM; resolves with the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { config?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    console.error(`mlgate start: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const configFile = values.config ?? env.MLGATE_CONFIG ?? DEFAULT_CONFIG;
  const cfg = loadEmbeddedConfig(configFile, env);
  const logger = createLogger({ service: 'mlgate', level: cfg.log.level, destination: pino.destination({ fd: 2, sync: false }) });
  // Handlers go in before anything starts: a Ctrl-C during the start still stops gracefully.
  let signalledAt = 0;
  let wake: (() => void) | undefined;
  const stopRequested = new Promise<void>((resolve) => { wake = resolve; });
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C under `npm start` reaches this process twice (the terminal's and npm's copy): a
    // second signal means "exit now" only when it comes a while after the first.
    if (signalledAt) {
      if (Date.now() - signalledAt < 1000) return;
      logger.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(1);
    }
    signalledAt = Date.now();
    console.log(`\n${signal}: stopping (the gateway finishes the requests in flight and flushes its telemetry)…`);
    wake!();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const running = await startEmbedded(cfg, { logger });
    if (!signalledAt) console.log(bannerLines(cfg, running.urls, { configFile, readyMs: running.timings.readyMs }).join('\n'));
    await stopRequested;
    try {
      await running.stop();
      return 0;
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      return 1;
    }
  } finally {
    logger.flush();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
