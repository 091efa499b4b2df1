/**
 * `ingest_ledger`: the ingester's record of each batch it is about to insert (source, partition,
 * first and last offset), written before the insert. After a crash the next ingester rebuilds
 * exactly these batches, so their deduplication tokens match and ClickHouse drops what already
 * landed (docs/ingester.md, "Exactly once"). Rows older than a week are of no use.
 */
import type { Migration } from './types.ts';

/** Migration 5. */
export const migration: Migration = {
  id: 5,
  name: 'ingest_ledger',
  description: 'ingester batch boundaries, for identical rebuilds after a crash',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.ingest_ledger${ctx.onCluster}
(
    source        LowCardinality(String),
    partition     UInt32,
    first_offset  UInt64,
    last_offset   UInt64,
    rows          UInt32,
    created_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${ctx.engine('MergeTree')}
ORDER BY (source, partition, first_offset)
TTL toDateTime(created_at) + INTERVAL 7 DAY`,
  ],
};
