/**
 * `controller_rollouts`: the canary controller's rollout states (services/controller/service/rollout-store.ts),
 * one row per saved transition, so a restarted or newly elected controller resumes every rollout
 * where the last leader left it. A ReplacingMergeTree on the rollout id keeps the highest `seq`
 * after merges; readers take `LIMIT 1 BY rollout_id` ordered by `seq` (no FINAL needed).
 * `state` is the pure core's RolloutState as JSON; `outbox` the decision row and routing state
 * of the latest transition (re-delivered idempotently on resume); `summary` what the API shows.
 */
import type { Migration } from './types.ts';

/** Migration 200. */
export const migration: Migration = {
  id: 200,
  name: 'controller_rollouts',
  description: 'canary controller rollout states (latest per rollout id), for resume and failover',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.controller_rollouts${ctx.onCluster}
(
    rollout_id  String,
    model       LowCardinality(String),
    phase       LowCardinality(String),
    seq         UInt64,
    saved_at    DateTime64(3, 'UTC'),
    instance    LowCardinality(String),
    state       String CODEC(ZSTD(3)),
    outbox      String CODEC(ZSTD(3)),
    summary     String CODEC(ZSTD(3))
)
ENGINE = ${ctx.engine('ReplacingMergeTree', 'seq')}
ORDER BY rollout_id
SETTINGS ${ctx.dedupSetting}`,
  ],
};
