/**
 * The migration runner: creates the database, applies every registered migration that
 * `<db>.schema_migrations` does not list yet (in id order, recording each after its last
 * statement succeeded), then brings table TTLs in line with the configured retention. Safe to
 * run again at any time, and from several processes at once: every statement is idempotent.
 *
 * Cluster mode (`warehouse.cluster`): the same statements rendered with `ON CLUSTER`, `Replicated*`
 * engines and `replicated_deduplication_window` (see {@link migrationContext}), the bookkeeping
 * table replicated too, and optionally `<table>_all` Distributed tables for reads across shards.
 * {@link renderPlan} gives every statement without running one (`mlgate migrate --print`).
 */
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { RetentionSection, type ClusterConfig, type Retention } from './config.ts';
import { WarehouseErrors, mapClickHouseError } from './errors.ts';
import { allMigrations, validateRegistry, type Migration, type MigrationContext } from './migrations/index.ts';
import type { EngineFamily } from './migrations/types.ts';
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
  /** Cluster mode (`warehouse.cluster`); absent = one server. */
  cluster?: ClusterConfig;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Migrations run now, as `0001_requests`. */
  applied: string[];
  /** Migrations that had run before. */
  alreadyApplied: string[];
  /** Tables whose TTL was changed to match the retention. */
  retentionChanged: string[];
  /** Distributed `<table>_all` tables created or recreated now (cluster mode with `distributed`). */
  distributedChanged: string[];
  /** Tables whose replica was synced (`SYSTEM SYNC REPLICA`, replicated cluster mode). */
  replicasSynced: string[];
}

/** Tables that get a `<table>_all` Distributed table in cluster mode with `distributed: true`. */
export const DISTRIBUTED_TABLES: readonly string[] = ['requests', 'requests_1m'];

/** Name of the Distributed table over `table`. */
export const distributedName = (table: string): string => `${table}_all`;

/** `0001_requests` for a migration. */
export function migrationLabel(m: Pick<Migration, 'id' | 'name'>): string {
  return `${String(m.id).padStart(4, '0')}_${m.name}`;
}

/**
 * Builds the context migrations render their statements with. Without `cluster` every helper
 * renders the single-server text (`MergeTree`, `non_replicated_deduplication_window`, no
 * `ON CLUSTER`).
 */
export function migrationContext(retention: Retention, dedupWindow: number, cluster?: ClusterConfig): MigrationContext {
  const replicated = cluster?.replicated === true;
  return {
    retention,
    dedupWindow,
    cluster,
    onCluster: cluster ? ` ON CLUSTER ${cluster.name}` : '',
    engine(family: EngineFamily, ...args: string[]) {
      const all = replicated ? [`'${cluster.zkPath}'`, `'${cluster.replica}'`, ...args] : args;
      const name = replicated ? `Replicated${family}` : family;
      return all.length ? `${name}(${all.join(', ')})` : name;
    },
    dedupSetting: replicated
      ? `replicated_deduplication_window = ${Number(dedupWindow)}, replicated_deduplication_window_seconds = ${Number(cluster.dedupWindowSeconds)}`
      : `non_replicated_deduplication_window = ${Number(dedupWindow)}`,
    ttl(key, expr) {
      const days = retention[key];
      return days === null ? '' : `TTL ${expr} + INTERVAL ${Number(days)} DAY`;
    },
  };
}

/** The statements run before any migration: the database and the bookkeeping table. */
export function setupStatements(ctx: MigrationContext): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS {db}${ctx.onCluster}`,
    `CREATE TABLE IF NOT EXISTS {db}.schema_migrations${ctx.onCluster}
(
    id          UInt32,
    name        String,
    description String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${ctx.engine('MergeTree')} ORDER BY id`,
  ];
}

/**
 * The `CREATE` of the Distributed table over `table` (no sharding key: it is for reads, and a
 * multi-shard cluster refuses inserts through it, which keeps every write on the local replicated
 * tables where the deduplication tokens hold). Empty outside cluster mode with `distributed`.
 */
export function distributedStatements(ctx: MigrationContext, table: string): string[] {
  const c = ctx.cluster;
  if (!c?.distributed) return [];
  return [`CREATE TABLE IF NOT EXISTS {db}.${distributedName(table)}${ctx.onCluster} AS {db}.${table} ENGINE = Distributed(${c.name}, {db}, ${table})`];
}

/** The `DROP` of the Distributed table over `table`, before it is created again with new columns. */
export function dropDistributedStatement(ctx: MigrationContext, table: string): string {
  return `DROP TABLE IF EXISTS {db}.${distributedName(table)}${ctx.onCluster} SYNC`;
}

/**
 * Tables a service reads back what it (or the instance before it) wrote: the batch ledger, the
 * partition claims and `requests` (ingester: batch boundaries, owners, event-id lookups), the chained tables (chain heads) and
 * the rollout states (controller takeover). A replica may lag behind an insert made on another
 * replica; in replicated cluster mode every migrate() (every service start) waits until its replica
 * has fetched everything written before (`SYSTEM SYNC REPLICA`).
 */
export const SYNCED_TABLES: readonly string[] = ['requests', 'ingest_ledger', 'ingest_claims', 'canary_decisions', 'admin_changes', 'erasure_log', 'controller_rollouts'];

/** The `SYSTEM SYNC REPLICA` statements run after the migrations (replicated cluster mode only). */
export function syncStatements(ctx: MigrationContext): string[] {
  return ctx.cluster?.replicated ? SYNCED_TABLES.map((t) => `SYSTEM SYNC REPLICA {db}.${t}`) : [];
}

/** Every statement {@link migrate} would run on an empty database, in order, none run. */
export interface MigrationPlan {
  setup: string[];
  migrations: Array<{ label: string; statements: readonly string[] }>;
  distributed: string[];
  /** Run at every start, after the rest (replicated cluster mode). */
  sync: string[];
}

/** Renders the plan for `opts` (statements still hold `{db}`); validates the registry like migrate(). */
export function renderPlan(opts: Omit<MigrateOptions, 'logger'> = {}): MigrationPlan {
  const ctx = migrationContext(opts.retention ?? RetentionSection.parse({}), opts.dedupWindow ?? 10_000, opts.cluster);
  const list = [...(opts.migrations ?? allMigrations())].sort((a, b) => a.id - b.id);
  validateRegistry(list);
  return {
    setup: setupStatements(ctx),
    migrations: list.map((m) => ({ label: migrationLabel(m), statements: renderMigration(m, ctx) })),
    distributed: DISTRIBUTED_TABLES.flatMap((t) => distributedStatements(ctx, t)),
    sync: syncStatements(ctx),
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
  const ctx = migrationContext(retention, opts.dedupWindow ?? 10_000, opts.cluster);
  const list = [...(opts.migrations ?? allMigrations())].sort((a, b) => a.id - b.id);
  validateRegistry(list);
  await ensureSupported(wh);
  for (const sql of setupStatements(ctx)) await wh.command(sql);
  const done = await appliedMigrations(wh);
  const result: MigrateResult = { applied: [], alreadyApplied: [], retentionChanged: [], distributedChanged: [], replicasSynced: [] };
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
  result.retentionChanged = await applyRetention(wh, retention, log, opts.cluster);
  result.distributedChanged = await syncDistributed(wh, ctx, log);
  for (const [i, sql] of syncStatements(ctx).entries()) {
    try {
      await wh.command(sql);
    } catch (err) {
      throw mapClickHouseError(err, `wait for this replica to catch up (SYSTEM SYNC REPLICA, needs that privilege) on ${SYNCED_TABLES[i]}`);
    }
    result.replicasSynced.push(SYNCED_TABLES[i]!);
  }
  return result;
}

/** Days in a table's current `TTL <expr> + toIntervalDay(N)` clause; null when it has no TTL. */
export function currentTtlDays(engineFull: string): number | null {
  const m = /\bTTL\b.*?toIntervalDay\((\d+)\)/.exec(engineFull);
  return m ? Number(m[1]) : null;
}

/**
 * The statement that sets `target`'s TTL to `days` (null: removes it); `table` is the qualified
 * name, e.g. `mlgate.requests` or `{db}.requests`.
 */
export function retentionStatement(table: string, target: { expr: string }, days: number | null, cluster?: ClusterConfig): string {
  const on = cluster ? ` ON CLUSTER ${cluster.name}` : '';
  return days === null
    ? `ALTER TABLE ${table}${on} REMOVE TTL`
    : `ALTER TABLE ${table}${on} MODIFY TTL ${target.expr} + INTERVAL ${Number(days)} DAY`;
}

/**
 * Makes each {@link RETENTION_TARGETS} table's TTL match `retention` (a changed retention in the
 * config takes effect at the next start). Returns the tables it altered.
 */
export async function applyRetention(wh: Warehouse, retention: Retention, log: Logger = silentLogger(), cluster?: ClusterConfig): Promise<string[]> {
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
    const sql = retentionStatement(wh.table(target.table), target, want, cluster);
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

/**
 * Creates the Distributed tables of {@link DISTRIBUTED_TABLES} (cluster mode with `distributed`),
 * and recreates one whose columns no longer match its local table (a later migration added a
 * column): it holds no rows, since every write goes to the local tables. Returns the tables it
 * created or recreated.
 */
export async function syncDistributed(wh: Warehouse, ctx: MigrationContext, log: Logger = silentLogger()): Promise<string[]> {
  if (!ctx.cluster?.distributed) return [];
  const names = DISTRIBUTED_TABLES.flatMap((t) => [t, distributedName(t)]);
  const rows = await wh.query<{ table: string; name: string; type: string }>(
    'SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table IN {names:Array(String)} ORDER BY table, position',
    { db: wh.database, names },
  );
  const columns = (table: string) => rows.filter((r) => r.table === table).map((r) => `${r.name} ${r.type}`).join(', ');
  const changed: string[] = [];
  for (const table of DISTRIBUTED_TABLES) {
    const all = distributedName(table);
    const have = columns(all);
    if (have !== '' && have === columns(table)) continue;
    try {
      if (have !== '') await wh.command(dropDistributedStatement(ctx, table));
      for (const sql of distributedStatements(ctx, table)) await wh.command(sql);
    } catch (err) {
      throw mapClickHouseError(err, `create the Distributed table ${all}`);
    }
    log.info({ table: all, recreated: have !== '' }, 'distributed table created');
    changed.push(all);
  }
  return changed;
}
