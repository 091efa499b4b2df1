/**
 * `mlgate migrate [--config FILE] [--status | --print]`: applies the ClickHouse schema migrations
 * (and the configured retention) to the configured warehouse, lists which ones have run, or prints
 * every statement for the config without connecting (for review, e.g. in cluster mode).
 */
import { z } from 'zod';
import { LogSection, loadConfig } from '../../core/config.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { createLogger } from '../../core/log.ts';
import { WarehouseSection, type WarehouseConfig } from '../../warehouse/config.ts';
import { withDatabase } from '../../warehouse/identifiers.ts';
import { appliedMigrations, migrate, migrationLabel, renderPlan } from '../../warehouse/migrate.ts';
import { allMigrations } from '../../warehouse/migrations/index.ts';
import { createWarehouse } from '../../warehouse/warehouse.ts';
import { clickHouseCode } from '../../warehouse/errors.ts';
import { CONFIG_OPTION, HELP_OPTION, configFileOf, parseCommand, usageFailure, type CommandHelp } from '../args.ts';

/** ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE: a warehouse no migration has run on. */
const NOTHING_MIGRATED = new Set([60, 81]);

export const HELP: CommandHelp = {
  name: 'migrate',
  usage: '[--config FILE] [--status | --print]',
  description: `Creates the database and applies every pending schema migration to the configured warehouse
(warehouse.engine: server with warehouse.url, or the embedded engine under dataDir), then sets
each table's TTL from warehouse.retention. Safe to run again: applied migrations are recorded in
<database>.schema_migrations and skipped. The gateway needs no schema; the ingester, controller
and audit service migrate on start, so this command is for a deploy step run before them.
With warehouse.cluster set, every statement runs ON CLUSTER with Replicated* engines
(docs/warehouse.md, "Cluster mode"); --print shows them without connecting to anything.`,
  options: [
    CONFIG_OPTION,
    ['--status', 'list every migration and whether it has run, change nothing'],
    ['--print', 'print every statement migrate would run on an empty database, for this config; connect to nothing'],
    HELP_OPTION,
  ],
  examples: [
    'CLICKHOUSE_URL=http://127.0.0.1:8123 mlgate migrate --config deploy/mlgate.yml --status',
    'CLICKHOUSE_URL=http://ch:8123 MLGATE_CFG__warehouse__cluster=\'{"name":"prod"}\' mlgate migrate --print > schema.sql',
  ],
};

const Config = z.object({
  dataDir: z.string().min(1).default('data'),
  log: LogSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
});

/** The `--print` text: every statement of the plan, `;`-terminated, under a comment naming its step. */
export function printPlan(w: WarehouseConfig): string {
  const plan = renderPlan({ retention: w.retention, dedupWindow: w.dedupWindow, cluster: w.cluster });
  const mode = w.cluster ? `cluster ${w.cluster.name} (${w.cluster.replicated ? 'replicated' : 'not replicated'}${w.cluster.distributed ? ', Distributed tables' : ''})` : 'one server';
  const out: string[] = [`-- mlgate schema for database ${w.database}, ${mode}: printed, not run`];
  const section = (title: string, statements: readonly string[]) => {
    if (statements.length === 0) return;
    out.push('', `-- ${title}`);
    for (const sql of statements) out.push(`${withDatabase(sql, w.database)};`);
  };
  section('setup: database and the migrations table', plan.setup);
  for (const m of plan.migrations) section(`${m.label} (then recorded in schema_migrations)`, m.statements);
  section('Distributed tables, after the migrations (recreated when a migration changes their table\'s columns)', plan.distributed);
  section('at every start: wait until this replica has every part written on the others', plan.sync);
  out.push('', '-- then each table\'s TTL is brought in line with warehouse.retention (ALTER TABLE … MODIFY TTL), where it differs', '');
  return out.join('\n');
}

/** Entry point of the subcommand. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string; status?: boolean; print?: boolean }>(HELP, argv, {
    config: { type: 'string', short: 'c' }, status: { type: 'boolean' }, print: { type: 'boolean' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.status && values.print) return usageFailure(HELP, '--status and --print exclude each other');
  const configFile = configFileOf(values.config, env);
  const cfg = loadConfig(Config, configFile, env);
  if (values.print) {
    process.stdout.write(printPlan(cfg.warehouse));
    return 0;
  }
  const logger = createLogger({ service: 'migrate', level: cfg.log.level === 'info' ? 'warn' : cfg.log.level });
  const wh = await createWarehouse(cfg.warehouse, { logger, dataDir: cfg.dataDir });
  try {
    if (values.status) {
      // No database or no schema_migrations table yet: nothing has run. Anything else (server
      // down, wrong password) is a failure: it says nothing about which migrations have run.
      const done = await appliedMigrations(wh).catch((err: unknown) => {
        if (NOTHING_MIGRATED.has(clickHouseCode((err as { cause?: unknown }).cause ?? err) ?? -1)) return new Set<number>();
        throw err;
      });
      for (const m of allMigrations()) console.log(`${done.has(m.id) ? 'applied' : 'pending'}  ${migrationLabel(m)}  ${m.description}`);
      return 0;
    }
    const r = await migrate(wh, { retention: cfg.warehouse.retention, dedupWindow: cfg.warehouse.dedupWindow, cluster: cfg.warehouse.cluster, logger });
    for (const label of r.applied) console.log(`applied  ${label}`);
    for (const table of r.retentionChanged) console.log(`retention changed  ${table}`);
    for (const table of r.distributedChanged) console.log(`distributed table  ${table}`);
    console.log(`${wh.engine} warehouse, database ${wh.database}: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
    return 0;
  } finally {
    await wh.close();
  }
}
