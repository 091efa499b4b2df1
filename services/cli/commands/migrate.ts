/**
 * `mlgate migrate [--config FILE] [--status]`: applies the ClickHouse schema migrations (and the
 * configured retention) to the configured warehouse, or lists which ones have run.
 */
import { z } from 'zod';
import { LogSection, loadConfig } from '../../core/config.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { createLogger } from '../../core/log.ts';
import { WarehouseSection } from '../../warehouse/config.ts';
import { appliedMigrations, migrate, migrationLabel } from '../../warehouse/migrate.ts';
import { allMigrations } from '../../warehouse/migrations/index.ts';
import { createWarehouse } from '../../warehouse/warehouse.ts';
import { CONFIG_OPTION, HELP_OPTION, configFileOf, parseCommand, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'migrate',
  usage: '[--config FILE] [--status]',
  description: `Creates the database and applies every pending schema migration to the configured warehouse
(warehouse.engine: server with warehouse.url, or the embedded engine under dataDir), then sets
each table's TTL from warehouse.retention. Safe to run again: applied migrations are recorded in
<database>.schema_migrations and skipped. The gateway needs no schema; the ingester, controller
and audit service migrate on start, so this command is for a deploy step run before them.`,
  options: [
    CONFIG_OPTION,
    ['--status', 'list every migration and whether it has run, change nothing'],
    HELP_OPTION,
  ],
  examples: ['CLICKHOUSE_URL=http://127.0.0.1:8123 mlgate migrate --config deploy/mlgate.yml --status'],
};

const Config = z.object({
  dataDir: z.string().min(1).default('data'),
  log: LogSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
});

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string; status?: boolean }>(HELP, argv, { config: { type: 'string', short: 'c' }, status: { type: 'boolean' } });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const configFile = configFileOf(values.config, env);
  const cfg = loadConfig(Config, configFile, env);
  const logger = createLogger({ service: 'migrate', level: cfg.log.level === 'info' ? 'warn' : cfg.log.level });
  const wh = await createWarehouse(cfg.warehouse, { logger, dataDir: cfg.dataDir });
  try {
    if (values.status) {
      const done = await appliedMigrations(wh).catch(() => new Set<number>());
      for (const m of allMigrations()) console.log(`${done.has(m.id) ? 'applied' : 'pending'}  ${migrationLabel(m)}  ${m.description}`);
      return 0;
    }
    const r = await migrate(wh, { retention: cfg.warehouse.retention, dedupWindow: cfg.warehouse.dedupWindow, logger });
    for (const label of r.applied) console.log(`applied  ${label}`);
    for (const table of r.retentionChanged) console.log(`retention changed  ${table}`);
    console.log(`${wh.engine} warehouse, database ${wh.database}: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
    return 0;
  } finally {
    await wh.close();
  }
}
