/**
 * The migration runner: creates the database, applies every registered migration that
 * `<db>.schema_migrations` does not list yet (in id order, recording each after its last
 * statement succeeded), then brings table TTLs in line with the configured retention. Safe to
 * run again at any time, and from several processes at once: every statement is idempotent.
 */
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { RetentionSection, type Retention } from './config.ts';
import { WarehouseErrors, mapClickHouseError } from './errors.ts';
import { allMigrations, validateRegistry, type Migration, type MigrationContext } from './migrations/index.ts';
import { parseVersion, type Warehouse } from './warehouse.ts';

/** Oldest ClickHouse server the schema is written for (features: Map, sumMap on Map, dedup tokens, TTL). */
export const MIN_SERVER_VERSION: readonly [number, number] = [23, 8];

/** Tables whose TTL follows a retention key, and the DateTime expression it counts from. */
export const RETENTION_TARGETS: ReadonlyArray<{ table: string; key: keyof Retention; expr: string }> = [
  { table: 'requests', key: 'requests', expr: 'toDateTime(ts)' },
  { table: 'requests_1m', key: 'aggregates', expr: 'minute' },
  { table: 'canary_decisions', key: 'canaryDecisions', expr: 'toDateTime(ts)' },
  { table: 'admin_changes', key: 'adminChanges', expr: 'toDateTime(ts)' },
];

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Retention per table; defaults from the config schema. */
  retention?: Retention;
  /** Deduplication window for new tables; default 10000 blocks. */
  dedupWindow?: number;
  logger?: Logger;
  /** Migrations to consider; default every registered one. */
  migrations?: readonly Migration[];
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Migrations run now, as `0001_requests`. */
  applied: string[];
  /** Migrations that had run before. */
  alreadyApplied: string[];
  /** Tables whose TTL was changed to match the retention. */
  retentionChanged: string[];
}

/** `0001_requests` for a migration. */
export function migrationLabel(m: Pick<Migration, 'id' | 'name'>): string {
  return `${String(m.id).padStart(4, '0')}_${m.name}`;
}

/** Builds the context migrations render their statements with. */
export function migrationContext(retention: Retention, dedupWindow: number): MigrationContext {
  return {
    retention,
    dedupWindow,
    ttl(key, expr) {
      const days = retention[key];
      return days === null ? '' : `TTL ${expr} + INTERVAL ${Number(days)} DAY`;
    },
  };
}

/** The statements of `m` with the context applied (still holding `{db}`). */
export function renderMigration(m: Migration, ctx: MigrationContext): readonly string[] {
  return typeof m.up === 'function' ? m.up(ctx) : m.up;
}

async function ensureSupported(wh: Warehouse): Promise<void> {
  if (wh.engine !== 'server') return;
  const version = await wh.serverVersion();
  const [major, minor] = parseVersion(version);
  const [minMajor, minMinor] = MIN_SERVER_VERSION;
  if (major < minMajor || (major === minMajor && minor < minMinor)) {
    throw WarehouseErrors.unsupported(
      `ClickHouse server ${version} is too old for the mlgate schema (needs ${minMajor}.${minMinor} or later: ` +
        'query parameters, Map, LowCardinality, DateTime64, TTL, insert deduplication tokens)',
      { details: { version } },
    );
  }
}

/** Ids recorded in `<db>.schema_migrations`. */
export async function appliedMigrations(wh: Warehouse): Promise<Set<number>> {
  const rows = await wh.query<{ id: number }>('SELECT DISTINCT id FROM {db}.schema_migrations');
  return new Set(rows.map((r) => Number(r.id)));
}

/** Applies pending migrations and the retention; see the module comment. */
export async function migrate(wh: Warehouse, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const log = opts.logger ?? silentLogger();
  const retention = opts.retention ?? RetentionSection.parse({});
  const ctx = migrationContext(retention, opts.dedupWindow ?? 10_000);
  const list = [...(opts.migrations ?? allMigrations())].sort((a, b) => a.id - b.id);
  validateRegistry(list);
  await ensureSupported(wh);
  await wh.command('CREATE DATABASE IF NOT EXISTS {db}');
  await wh.command(`CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    id          UInt32,
    name        String,
    description String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree ORDER BY id`);
  const done = await appliedMigrations(wh);
  const result: MigrateResult = { applied: [], alreadyApplied: [], retentionChanged: [] };
  for (const m of list) {
    const label = migrationLabel(m);
    if (done.has(m.id)) {
      result.alreadyApplied.push(label);
      continue;
    }
    const statements = renderMigration(m, ctx);
    for (const [i, sql] of statements.entries()) {
      try {
        await wh.command(sql);
      } catch (err) {
        throw WarehouseErrors.migrationFailed(
          `migration ${label} failed at statement ${i + 1} of ${statements.length}: ${(err as Error).message}`,
          { cause: err, details: { migration: label, statement: i + 1 } },
        );
      }
    }
    await wh.insert('schema_migrations', [{ id: m.id, name: m.name, description: m.description }]);
    log.info({ migration: label }, 'migration applied');
    result.applied.push(label);
  }
  result.retentionChanged = await applyRetention(wh, retention, log);
  return result;
}

/** Days in a table's current `TTL <expr> + toIntervalDay(N)` clause; null when it has no TTL. */
export function currentTtlDays(engineFull: string): number | null {
  const m = /\bTTL\b.*?toIntervalDay\((\d+)\)/.exec(engineFull);
  return m ? Number(m[1]) : null;
}

/**
 * Makes each {@link RETENTION_TARGETS} table's TTL match `retention` (a changed retention in the
 * config takes effect at the next start). Returns the tables it altered.
 */
export async function applyRetention(wh: Warehouse, retention: Retention, log: Logger = silentLogger()): Promise<string[]> {
  const names = RETENTION_TARGETS.map((t) => t.table);
  const rows = await wh.query<{ name: string; engine_full: string }>(
    'SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}',
    { db: wh.database, names },
  );
  const changed: string[] = [];
  for (const row of rows) {
    const target = RETENTION_TARGETS.find((t) => t.table === row.name)!;
    const want = retention[target.key];
    const have = currentTtlDays(row.engine_full);
    if (want === have) continue;
    const sql = want === null
      ? `ALTER TABLE ${wh.table(target.table)} REMOVE TTL`
      : `ALTER TABLE ${wh.table(target.table)} MODIFY TTL ${target.expr} + INTERVAL ${Number(want)} DAY`;
    try {
      await wh.command(sql);
    } catch (err) {
      throw mapClickHouseError(err, `change the retention of ${target.table}`);
    }
    log.info({ table: target.table, from: have, to: want }, 'retention changed');
    changed.push(target.table);
  }
  return changed;
}
