/** Helpers for warehouse and ingester tests: a warehouse on a fresh database, dropped at the end. */
import type { TestContext } from 'node:test';
import { chdbPath, uniqueName } from '../support/infra.ts';
import { WarehouseSection, type WarehouseInput } from '../../services/warehouse/config.ts';
import { createWarehouse, type Warehouse } from '../../services/warehouse/warehouse.ts';
import { migrate } from '../../services/warehouse/migrate.ts';

/**
 * An embedded warehouse on this process's chdb path with its own database (migrated unless
 * `migrated: false`). The database is dropped and the warehouse closed when the test ends.
 */
export async function embeddedWarehouse(t: TestContext, over: Partial<WarehouseInput> = {}, opts: { migrated?: boolean } = {}): Promise<Warehouse> {
  const cfg = WarehouseSection.parse({ engine: 'embedded', path: chdbPath(), database: uniqueName('wh'), ...over });
  const wh = await createWarehouse(cfg);
  t.after(async () => {
    await wh.command('DROP DATABASE IF EXISTS {db}').catch(() => {});
    await wh.close();
  });
  if (opts.migrated !== false) await migrate(wh, { retention: cfg.retention, dedupWindow: cfg.dedupWindow });
  return wh;
}

/** Number of rows `sql` counts (first column of the first row). */
export async function count(wh: Warehouse, sql: string, params?: Record<string, unknown>): Promise<number> {
  const rows = await wh.query<Record<string, unknown>>(sql, params);
  return Number(Object.values(rows[0] ?? { c: 0 })[0]);
}

/**
 * A cut-down `requests` table that ClickHouse 18.16 (Debian's server) can hold: no LowCardinality,
 * DateTime64, Map or TTL. Inserts of full events need `skipUnknownFields`.
 */
export const REDUCED_REQUESTS_DDL = `CREATE TABLE IF NOT EXISTS {db}.requests
(
    event_id String, ts UInt64, model String, version String, role String, consumer_id String,
    outcome String, status UInt16, latency_ms Float64, prediction_score Nullable(Float64),
    src_topic String, src_partition UInt32, src_offset UInt64
)
ENGINE = MergeTree ORDER BY (model, version, ts)`;

/** A server warehouse on a fresh database (created now, dropped at the end). */
export async function serverWarehouse(t: TestContext, url: string, over: Partial<WarehouseInput> = {}): Promise<Warehouse> {
  const cfg = WarehouseSection.parse({ engine: 'server', url, database: uniqueName('wh'), requestTimeoutMs: 10_000, ...over });
  const wh = await createWarehouse(cfg);
  await wh.command('CREATE DATABASE IF NOT EXISTS {db}');
  t.after(async () => {
    await wh.command('DROP DATABASE IF EXISTS {db}').catch(() => {});
    await wh.close();
  });
  return wh;
}
