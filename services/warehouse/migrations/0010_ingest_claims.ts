/**
 * `ingest_claims`: which ingester owns each partition's inserts. An ingester writes a claim when
 * it is assigned a partition, stamped by the server's clock, and checks just before each insert
 * that the partition's newest claim is still its own; a deposed owner that has not yet heard of
 * the rebalance (a broker restart) then drops its batch instead of inserting it beside the new
 * owner's (docs/ingester.md, "Exactly once"). Rows older than a week are of no use.
 */
import type { Migration } from './types.ts';

/** Migration 10. */
export const migration: Migration = {
  id: 10,
  name: 'ingest_claims',
  description: 'ingester partition claims, fencing a deposed owner\'s inserts',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.ingest_claims${ctx.onCluster}
(
    source      LowCardinality(String),
    partition   UInt32,
    owner       String,
    claimed_at  DateTime64(6, 'UTC')
)
ENGINE = ${ctx.engine('MergeTree')}
ORDER BY (source, partition, claimed_at)
TTL toDateTime(claimed_at) + INTERVAL 7 DAY`,
  ],
};
