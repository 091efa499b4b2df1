/**
 * `canary_decisions`: every decision the canary controller takes, with its evidence, append-only.
 * `prev_hash`/`hash` are reserved for the audit hash chain (filled by the audit writer).
 */
import type { Migration } from './types.ts';

/** Migration 3. */
export const migration: Migration = {
  id: 3,
  name: 'canary_decisions',
  description: 'append-only canary controller decisions with evidence',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.canary_decisions${ctx.onCluster}
(
    decision_id     String,
    ts              DateTime64(3, 'UTC'),
    rollout_id      String,
    model           LowCardinality(String),
    stable_version  LowCardinality(String),
    canary_version  LowCardinality(String),
    step            UInt16,
    weight_before   Float64,
    weight_after    Float64,
    action          LowCardinality(String),
    reason          String,
    evidence        String CODEC(ZSTD(3)),
    actor           LowCardinality(String),
    generation      UInt64 DEFAULT 0,
    prev_hash       String DEFAULT '',
    hash            String DEFAULT ''
)
ENGINE = ${ctx.engine('MergeTree')}
PARTITION BY toYYYYMM(ts)
ORDER BY (model, rollout_id, ts, decision_id)
${ctx.ttl('canaryDecisions', 'toDateTime(ts)')}
SETTINGS ${ctx.dedupSetting}`,
  ],
};
