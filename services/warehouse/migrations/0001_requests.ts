/**
 * `requests`: one row per telemetry event (services/telemetry/event.ts), plus where the ingester
 * got it from. Ordered for per-model/version time scans; bloom filters make the audit lookups
 * (event_id, input_hash, trace_id, consumer_id, correlation_id) skip almost every granule.
 * Nullable numbers stay Nullable: a missing score or token count is not a zero.
 */
import type { Migration } from './types.ts';

/** Migration 1. */
export const migration: Migration = {
  id: 1,
  name: 'requests',
  description: 'raw telemetry events, partitioned by day, ordered by model, version, time',
  up: (ctx) => [
    `CREATE TABLE IF NOT EXISTS {db}.requests${ctx.onCluster}
(
    event_id            UUID,
    ts                  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    gateway_id          LowCardinality(String),
    route               LowCardinality(String),
    model               LowCardinality(String),
    version             LowCardinality(String),
    role                LowCardinality(String),
    rollout_id          LowCardinality(String),
    consumer_id         LowCardinality(String),
    method              LowCardinality(String),
    status              UInt16,
    outcome             LowCardinality(String),
    error_class         LowCardinality(String),
    latency_ms          Float32 CODEC(ZSTD(1)),
    upstream_latency_ms Nullable(Float32) CODEC(ZSTD(1)),
    ttfb_ms             Nullable(Float32) CODEC(ZSTD(1)),
    request_bytes       UInt64 CODEC(T64, ZSTD(1)),
    response_bytes      UInt64 CODEC(T64, ZSTD(1)),
    input_hash          String CODEC(ZSTD(1)),
    output_hash         String CODEC(ZSTD(1)),
    hash_key_id         LowCardinality(String),
    input_redacted      String CODEC(ZSTD(3)),
    redactions          Map(LowCardinality(String), UInt32),
    prediction_label    LowCardinality(Nullable(String)),
    prediction_score    Nullable(Float64) CODEC(ZSTD(1)),
    tokens_in           Nullable(UInt32),
    tokens_out          Nullable(UInt32),
    correlation_id      String CODEC(ZSTD(1)),
    trace_id            String CODEC(ZSTD(1)),
    span_id             String CODEC(ZSTD(1)),
    cache               LowCardinality(String),
    schema_version      UInt8,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    src_topic           LowCardinality(String),
    src_partition       UInt32,
    src_offset          UInt64 CODEC(Delta, ZSTD(1)),
    INDEX idx_event_id       event_id       TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_input_hash     input_hash     TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id       trace_id       TYPE bloom_filter(0.01)  GRANULARITY 1,
    INDEX idx_consumer_id    consumer_id    TYPE bloom_filter(0.01)  GRANULARITY 1,
    INDEX idx_correlation_id correlation_id TYPE bloom_filter(0.01)  GRANULARITY 1
)
ENGINE = ${ctx.engine('MergeTree')}
PARTITION BY toDate(ts)
ORDER BY (model, version, ts)
${ctx.ttl('requests', 'toDateTime(ts)')}
SETTINGS index_granularity = 8192, ${ctx.dedupSetting}`,
  ],
};
