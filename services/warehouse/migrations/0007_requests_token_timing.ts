/**
 * Token timing of LLM streams (docs/llm.md, "Token timing"): `ttft_ms`, `itl_mean_ms`,
 * `itl_p95_ms` and `output_tps` on `requests` (Nullable: NULL on every request that was not a
 * streamed LLM answer, and on rows written before the fields existed), and their per-minute
 * roll-up in `requests_1m`, as latency is rolled up there: a count and a sum for averages over
 * the non-NULL values, and a t-digest state for quantiles.
 *
 * The roll-up is a second materialized view into `requests_1m` (same key columns, only the new
 * columns set; AggregatingMergeTree merges its rows with the first view's), over the rows that
 * carry token timing. Migration 2's view is left as it is: replacing its query (`MODIFY QUERY`)
 * broke exactly-once on the embedded engine. After that, a batch replayed under its
 * deduplication token after a SIGKILL between insert and commit was counted again in
 * `requests_1m` (test/ingester/sigkill.int: 100,400 for 100,000 rows), while `requests` stayed
 * exact.
 */
import type { Migration } from './types.ts';

/** The new `requests_1m` columns and how the view fills each from `requests`. */
const ROLLUP: ReadonlyArray<readonly [column: string, type: string, expr: string]> = [
  ['ttft_count', 'SimpleAggregateFunction(sum, UInt64)', 'countIf(ttft_ms IS NOT NULL)'],
  ['ttft_sum', 'SimpleAggregateFunction(sum, Float64)', 'sum(toFloat64(ifNull(ttft_ms, 0)))'],
  ['ttft_q', 'AggregateFunction(quantileTDigest, Float32)', 'quantileTDigestStateIf(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL)'],
  ['itl_count', 'SimpleAggregateFunction(sum, UInt64)', 'countIf(itl_mean_ms IS NOT NULL)'],
  ['itl_sum', 'SimpleAggregateFunction(sum, Float64)', 'sum(toFloat64(ifNull(itl_mean_ms, 0)))'],
  ['itl_q', 'AggregateFunction(quantileTDigest, Float32)', 'quantileTDigestStateIf(assumeNotNull(itl_mean_ms), itl_mean_ms IS NOT NULL)'],
  ['itl_p95_q', 'AggregateFunction(quantileTDigest, Float32)', 'quantileTDigestStateIf(assumeNotNull(itl_p95_ms), itl_p95_ms IS NOT NULL)'],
  ['output_tps_count', 'SimpleAggregateFunction(sum, UInt64)', 'countIf(output_tps IS NOT NULL)'],
  ['output_tps_sum', 'SimpleAggregateFunction(sum, Float64)', 'sum(toFloat64(ifNull(output_tps, 0)))'],
  ['output_tps_q', 'AggregateFunction(quantileTDigest, Float32)', 'quantileTDigestStateIf(assumeNotNull(output_tps), output_tps IS NOT NULL)'],
];

/** Migration 7. */
export const migration: Migration = {
  id: 7,
  name: 'requests_token_timing',
  description: 'LLM stream token timing: requests.ttft_ms, itl_mean_ms, itl_p95_ms, output_tps and their requests_1m roll-up',
  up: (ctx) => [
    `ALTER TABLE {db}.requests${ctx.onCluster}
    ADD COLUMN IF NOT EXISTS ttft_ms     Nullable(Float32) CODEC(ZSTD(1)) AFTER upstream_model,
    ADD COLUMN IF NOT EXISTS itl_mean_ms Nullable(Float32) CODEC(ZSTD(1)) AFTER ttft_ms,
    ADD COLUMN IF NOT EXISTS itl_p95_ms  Nullable(Float32) CODEC(ZSTD(1)) AFTER itl_mean_ms,
    ADD COLUMN IF NOT EXISTS output_tps  Nullable(Float32) CODEC(ZSTD(1)) AFTER itl_p95_ms`,
    `ALTER TABLE {db}.requests_1m${ctx.onCluster}
    ${ROLLUP.map(([c, type]) => `ADD COLUMN IF NOT EXISTS ${c} ${type}`).join(',\n    ')}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.requests_1m_llm_mv${ctx.onCluster} TO {db}.requests_1m AS
SELECT
    toDateTime(toStartOfMinute(ts), 'UTC') AS minute,
    model, version, role, rollout_id,
    ${ROLLUP.map(([c, , expr]) => `${expr} AS ${c}`).join(',\n    ')}
FROM {db}.requests
WHERE ttft_ms IS NOT NULL OR itl_mean_ms IS NOT NULL OR itl_p95_ms IS NOT NULL OR output_tps IS NOT NULL
GROUP BY minute, model, version, role, rollout_id`,
  ],
};
