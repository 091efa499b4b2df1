/**
 * `admin_changes`: every change made through the admin API or CLI (routing, rollouts, keys),
 * with the state before and after as JSON, append-only. `prev_hash`/`hash` are reserved for
 * the audit hash chain.
 */
import type { Migration } from './types.ts';

/** Migration 4. */
export const migration: Migration = {
  id: 4,
  name: 'admin_changes',
  description: 'append-only admin changes with before/after state',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.admin_changes${ctx.onCluster}
(
    change_id   String,
    ts          DateTime64(3, 'UTC'),
    actor       String,
    action      LowCardinality(String),
    target      String,
    before      String CODEC(ZSTD(3)),
    after       String CODEC(ZSTD(3)),
    generation  UInt64 DEFAULT 0,
    prev_hash   String DEFAULT '',
    hash        String DEFAULT ''
)
ENGINE = ${ctx.engine('MergeTree')}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, change_id)
${ctx.ttl('adminChanges', 'toDateTime(ts)')}
SETTINGS ${ctx.dedupSetting}`,
  ],
};
