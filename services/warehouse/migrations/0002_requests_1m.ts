/**
 * `requests_1m`: per-minute aggregates by model, version, role and rollout, kept by a
 * materialized view on `requests`. Counts and sums are SimpleAggregateFunction columns (read
 * them with sum/min/max); latency and score distributions are t-digest states (read them with
 * quantileTDigestMerge(level)). The table has its own deduplication window so a retried insert
 * with the same token is not counted twice here either.
 */
import { errorOutcomesSql } from '../../telemetry/error-outcomes.ts';
import type { Migration } from './types.ts';

/**
 * The view's query: the per-minute roll-up of `requests`, with `extra` select expressions after
 * the columns of this migration (migration 7 replaces the query with its own columns added).
 */
export function rollupSelect(extra: readonly string[] = []): string {
  return `SELECT
    toDateTime(toStartOfMinute(ts), 'UTC')                                     AS minute,
    model, version, role, rollout_id,
    count()                                                                    AS requests,
    countIf(outcome = 'ok')                                                    AS ok,
    countIf(outcome IN (${errorOutcomesSql()}))    AS errors,
    countIf(status >= 500)                                                     AS status_5xx,
    sumMap(map(toString(outcome), toUInt64(1)))                                AS outcomes,
    sum(toFloat64(latency_ms))                                                 AS latency_sum,
    max(latency_ms)                                                            AS latency_max,
    quantileTDigestState(latency_ms)                                           AS latency_q,
    quantileTDigestStateIf(latency_ms, outcome = 'ok')                         AS latency_ok_q,
    countIf(upstream_latency_ms IS NOT NULL)                                   AS upstream_latency_count,
    sum(toFloat64(ifNull(upstream_latency_ms, 0)))                             AS upstream_latency_sum,
    quantileTDigestStateIf(assumeNotNull(upstream_latency_ms), upstream_latency_ms IS NOT NULL) AS upstream_latency_q,
    quantileTDigestStateIf(assumeNotNull(ttfb_ms), ttfb_ms IS NOT NULL)        AS ttfb_q,
    sum(request_bytes)                                                         AS request_bytes,
    sum(response_bytes)                                                        AS response_bytes,
    sum(toUInt64(ifNull(tokens_in, 0)))                                        AS tokens_in,
    sum(toUInt64(ifNull(tokens_out, 0)))                                       AS tokens_out,
    countIf(cache = 'hit')                                                     AS cache_hits,
    countIf(prediction_score IS NOT NULL)                                      AS score_count,
    sum(ifNull(prediction_score, 0))                                           AS score_sum,
    sum(ifNull(prediction_score, 0) * ifNull(prediction_score, 0))             AS score_sum_sq,
    min(prediction_score)                                                      AS score_min,
    max(prediction_score)                                                      AS score_max,
    quantileTDigestStateIf(assumeNotNull(prediction_score), prediction_score IS NOT NULL) AS score_q${extra.map((e) => `,\n    ${e}`).join('')}
FROM {db}.requests
GROUP BY minute, model, version, role, rollout_id`;
}

/** Migration 2. */
export const migration: Migration = {
  id: 2,
  name: 'requests_1m',
  description: 'per-minute aggregates by model, version, role and rollout (materialized view on requests)',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.requests_1m${ctx.onCluster}
(
    minute                 DateTime('UTC'),
    model                  LowCardinality(String),
    version                LowCardinality(String),
    role                   LowCardinality(String),
    rollout_id             LowCardinality(String),
    requests               SimpleAggregateFunction(sum, UInt64),
    ok                     SimpleAggregateFunction(sum, UInt64),
    errors                 SimpleAggregateFunction(sum, UInt64),
    status_5xx             SimpleAggregateFunction(sum, UInt64),
    outcomes               SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    latency_sum            SimpleAggregateFunction(sum, Float64),
    latency_max            SimpleAggregateFunction(max, Float32),
    latency_q              AggregateFunction(quantileTDigest, Float32),
    latency_ok_q           AggregateFunction(quantileTDigest, Float32),
    upstream_latency_count SimpleAggregateFunction(sum, UInt64),
    upstream_latency_sum   SimpleAggregateFunction(sum, Float64),
    upstream_latency_q     AggregateFunction(quantileTDigest, Float32),
    ttfb_q                 AggregateFunction(quantileTDigest, Float32),
    request_bytes          SimpleAggregateFunction(sum, UInt64),
    response_bytes         SimpleAggregateFunction(sum, UInt64),
    tokens_in              SimpleAggregateFunction(sum, UInt64),
    tokens_out             SimpleAggregateFunction(sum, UInt64),
    cache_hits             SimpleAggregateFunction(sum, UInt64),
    score_count            SimpleAggregateFunction(sum, UInt64),
    score_sum              SimpleAggregateFunction(sum, Float64),
    score_sum_sq           SimpleAggregateFunction(sum, Float64),
    score_min              SimpleAggregateFunction(min, Nullable(Float64)),
    score_max              SimpleAggregateFunction(max, Nullable(Float64)),
    score_q                AggregateFunction(quantileTDigest, Float64)
)
ENGINE = ${ctx.engine('AggregatingMergeTree')}
PARTITION BY toYYYYMM(minute)
ORDER BY (model, version, role, rollout_id, minute)
${ctx.ttl('aggregates', 'minute')}
SETTINGS ${ctx.dedupSetting}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.requests_1m_mv${ctx.onCluster} TO {db}.requests_1m AS
${rollupSelect()}`,
  ],
};
