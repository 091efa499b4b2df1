/**
 * `mlgate start [--config FILE]` (and `npm start`): every service in one process with the
 * embedded defaults (local telemetry log, embedded ClickHouse under ./data), printing where
 * everything is. Without --config it reads `MLGATE_CONFIG`, else the sample config/mlgate.yaml.
 * Logs (JSON lines) go to stderr; the banner to stdout. SIGINT/SIGTERM stop it gracefully; a
 * second signal (a second or more after the first) exits at once.
 */
import { pino } from 'pino';
import type { EnvSnapshot } from '../../core/env.ts';
import { runUntilSignal, watchSignals } from '../../core/lifecycle.ts';
import { createLogger } from '../../core/log.ts';
import { bannerLines } from '../../embedded/banner.ts';
import { loadEmbeddedConfig } from '../../embedded/config.ts';
import { startEmbedded } from '../../embedded/embedded.ts';

import { configFileOf, HELP_OPTION, parseCommand, type CommandHelp } from '../args.ts';
import { defaultConfigFile } from '../paths.ts';

/** The sample config used when none is given. */
export const DEFAULT_CONFIG = defaultConfigFile();

export const HELP: CommandHelp = {
  name: 'start',
  usage: '[--config FILE]',
  description: `Runs the gateway, the ingester, the embedded ClickHouse engine, the canary controller with its
rollout page, and the audit API in one process (embedded mode): no Kafka, no ClickHouse server.
Telemetry goes through a local log under dataDir. The embedded engine (chdb) has a native build
for Linux x64 only; elsewhere run the services one by one against a ClickHouse server (mlgate
gateway / ingester / controller with warehouse.engine: server). Prints where everything listens
once ready; logs (JSON lines) go to stderr. SIGINT or SIGTERM stop it gracefully.`,
  options: [
    ['-c, --config FILE', `the YAML config (default: $MLGATE_CONFIG, else the bundled ${DEFAULT_CONFIG})`],
    HELP_OPTION,
  ],
  examples: ['mlgate start', 'MLGATE_DATA_DIR=/var/lib/mlgate mlgate start --config my-mlgate.yaml'],
};

/** Runs until SIGINT/SIGTERM; resolves with the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string }>(HELP, argv, { config: { type: 'string', short: 'c' } });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const configFile = configFileOf(values.config, env, DEFAULT_CONFIG);
  const cfg = loadEmbeddedConfig(configFile, env);
  const logger = createLogger({ service: 'mlgate', level: cfg.log.level, destination: pino.destination({ fd: 2, sync: false }) });
  // Handlers go in before anything starts: a Ctrl-C during the start still stops gracefully.
  // Ctrl-C under `npm start` reaches this process twice (the terminal's and npm's copy): a
  // second signal means "exit now" only when it comes a while after the first.
  const watch = watchSignals({
    logger, repeatGraceMs: 1000,
    onFirst: (signal) => console.log(`\n${signal}: stopping (the gateway finishes the requests in flight and flushes its telemetry)…`),
  });
  try {
    const running = await startEmbedded(cfg, { logger });
    if (!watch.signal) console.log(bannerLines(cfg, running.urls, { configFile, readyMs: running.timings.readyMs }).join('\n'));
    return await runUntilSignal({ logger, lifecycle: running }, watch);
  } finally {
    logger.flush();
    watch.dispose();
  }
}
