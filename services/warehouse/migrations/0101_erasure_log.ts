/**
 * `erasure_log`: one row per erasure (who, which selector as a keyed hash, when, rows deleted and
 * rows left per table), hash-chained like decisions and admin changes. It holds no raw PII and
 * is the evidence of the erasures, so it has no TTL: it is kept forever.
 */
import type { Migration } from './types.ts';

/** Migration 101. */
export const migration: Migration = {
  id: 101,
  name: 'erasure_log',
  description: 'audit erasure log (hash-chained, no TTL)',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.erasure_log${ctx.onCluster}
(
    erasure_id      String,
    ts              DateTime64(3, 'UTC'),
    actor           String,
    selector_kind   LowCardinality(String),
    selector_hash   String,
    hash_key_id     LowCardinality(String),
    reason          String,
    rows_deleted    String,
    rows_remaining  String,
    chain_id        LowCardinality(String),
    seq             UInt64,
    prev_hash       String,
    hash            String
)
ENGINE = ${ctx.engine('MergeTree')}
ORDER BY (ts, erasure_id)
SETTINGS ${ctx.dedupSetting}`,
  ],
};
