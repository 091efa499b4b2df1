/**
 * `mlgate audit retention`: the effective retention of every mlgate table, read from ClickHouse
 * (`system.tables.engine_full`, the TTL the engine enforces), next to what the config asks for
 * (`warehouse.retention`, applied as TTL by the migrations on start). A table whose TTL differs
 * from its configured days is reported as `mismatch` until a service restarts with that config.
 */
import type { Retention } from '../warehouse/config.ts';
import { RETENTION_TARGETS } from '../warehouse/migrate.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';

/** Retention fixed by the schema (not configurable), in days; null = forever. */
const FIXED: Readonly<Record<string, { days: number | null; why: string }>> = {
  erasure_log: { days: null, why: 'the evidence of erasures: kept forever' },
  ingest_ledger: { days: 7, why: 'ingester batch boundaries' },
  ingest_claims: { days: 7, why: 'ingester partition claims' },
  schema_migrations: { days: null, why: 'schema history' },
};

/** One table's retention. */
export interface RetentionRow {
  readonly table: string;
  /** The TTL expression as ClickHouse reports it, or '' when rows are kept forever. */
  readonly ttl: string;
  /** Effective days (null = forever; a TTL not in whole days is converted). */
  readonly effective_days: number | null;
  /** What the config asks for (`warehouse.retention.<key>`, or the schema's fixed value). */
  readonly configured_days: number | null;
  /** Where the configured value comes from. */
  readonly source: string;
  readonly status: 'ok' | 'mismatch';
}

const UNIT_DAYS: Readonly<Record<string, number>> = { Second: 1 / 86_400, Minute: 1 / 1440, Hour: 1 / 24, Day: 1, Week: 7, Month: 30, Quarter: 91, Year: 365 };

/** The TTL clause of an `engine_full` and its length in days (null when there is none). */
export function parseTtl(engineFull: string): { ttl: string; days: number | null } {
  const m = /\bTTL\s+(.+?)(?:\s+SETTINGS\s|$)/s.exec(engineFull);
  if (!m) return { ttl: '', days: null };
  const ttl = m[1]!.trim();
  const iv = /toInterval(Second|Minute|Hour|Day|Week|Month|Quarter|Year)\((\d+)\)/.exec(ttl);
  return { ttl, days: iv ? Number(iv[2]) * UNIT_DAYS[iv[1]!]! : null };
}

/** Every MergeTree table of the database with its effective and configured retention, by name. */
export async function effectiveRetention(wh: Warehouse, retention: Retention): Promise<RetentionRow[]> {
  const tables = await wh.query<{ name: string; engine_full: string }>(
    "SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name",
    { db: wh.database },
  );
  return tables.map((t) => {
    const { ttl, days } = parseTtl(t.engine_full);
    const target = RETENTION_TARGETS.find((r) => r.table === t.name);
    const fixed = FIXED[t.name];
    const configured = target ? retention[target.key] : fixed ? fixed.days : null;
    const source = target ? `warehouse.retention.${target.key}` : fixed ? `schema (${fixed.why})` : 'schema (no TTL)';
    return { table: t.name, ttl, effective_days: days, configured_days: configured, source, status: days === configured ? 'ok' : 'mismatch' };
  });
}
