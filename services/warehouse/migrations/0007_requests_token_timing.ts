/**
 * Token timing of LLM streams (docs/llm.md, "Token timing"): `ttft_ms`, `itl_mean_ms`,
 * `itl_p95_ms` and `output_tps` on `requests` (Nullable: NULL on every request that was not a
 * streamed LLM answer, and on rows written before the fields existed), and their per-minute
 * roll-up in `requests_1m`, as latency is rolled up there: a count and a sum for averages over
 * the non-NULL values, and a t-digest state for quantiles. The materialized view's query is
 * replaced in place (`MODIFY QUERY`, no gap in which inserts would go uncounted); it is the
 * query of migration 2 with the new columns added at the end.
 */
import { rollupSelect } from './0002_requests_1m.ts';
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
    // Migration 2's query (unchanged above the new columns) plus the roll-up of the new ones.
    `ALTER TABLE {db}.requests_1m_mv${ctx.onCluster} MODIFY QUERY
${rollupSelect(ROLLUP.map(([c, , expr]) => `${expr} AS ${c}`))}`,
  ],
};
