/**
 * `mlgate migrate [--config FILE] [--status]`: applies the ClickHouse schema migrations (and the
 * configured retention) to the configured warehouse, or lists which ones have run.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { LogSection, loadConfig } from '../../core/config.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { createLogger } from '../../core/log.ts';
import { WarehouseSection } from '../../warehouse/config.ts';
import { appliedMigrations, migrate, migrationLabel } from '../../warehouse/migrate.ts';
import { allMigrations } from '../../warehouse/migrations/index.ts';
import { createWarehouse } from '../../warehouse/warehouse.ts';

const HELP = `usage: mlgate migrate [--config FILE] [--status]

Creates the database and applies every pending migration, then sets each table's TTL from
warehouse.retention. Safe to run again. --status lists the migrations and whether each has run.`;

const Config = z.object({
  dataDir: z.string().min(1).default('data'),
  log: LogSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
});

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { config?: string | undefined; status?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, status: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    console.error(`mlgate migrate: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const cfg = loadConfig(Config, values.config ?? env.MLGATE_CONFIG, env);
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
