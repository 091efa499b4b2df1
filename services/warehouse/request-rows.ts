/**
 * How a telemetry event becomes a `requests` row: every event field is a column of the same name
 * and JSON shape (ts as ms since the epoch goes straight into DateTime64(3)), plus where the
 * ingester read it. Kept next to the schema so the two change together: a field added to the
 * event contract needs a migration adding its column and an entry in {@link EVENT_COLUMNS}
 * (test/warehouse/embedded.test.ts fails until both exist).
 */
import type { TelemetryEvent } from '../telemetry/event.ts';

/** Where an event was read from. */
export interface EventSource {
  /** Kafka topic, or `local:<reader>` for the local log. */
  topic: string;
  partition: number;
  offset: number;
}

/** A `requests` row as inserted (JSONEachRow). `ingested_at` is filled by ClickHouse. */
export type RequestRow = TelemetryEvent & { src_topic: string; src_partition: number; src_offset: number };

/** Event fields stored in `requests`, in the column order of {@link requestCompactLine}. */
export const EVENT_COLUMNS = [
  'event_id', 'ts', 'gateway_id', 'route', 'model', 'version', 'role', 'rollout_id', 'consumer_id', 'method', 'status', 'outcome',
  'error_class', 'latency_ms', 'upstream_latency_ms', 'ttfb_ms', 'request_bytes', 'response_bytes', 'input_hash', 'output_hash',
  'hash_key_id', 'input_redacted', 'redactions', 'prediction_label', 'prediction_score', 'tokens_in', 'tokens_out', 'correlation_id',
  'trace_id', 'span_id', 'cache', 'upstream_model', 'ttft_ms', 'itl_mean_ms', 'itl_p95_ms', 'output_tps', 'cost_usd', 'tokens_estimated',
  'schema_version',
] as const satisfies ReadonlyArray<keyof TelemetryEvent>;

/** Every column {@link requestCompactLine} writes, in order (for `INSERT … (columns) FORMAT JSONCompactEachRow`). */
export const REQUEST_COLUMNS: readonly string[] = [...EVENT_COLUMNS, 'src_topic', 'src_partition', 'src_offset'];

/** Builds the row for `event`. Mutates nothing: the event is copied. */
export function toRequestRow(event: TelemetryEvent, src: EventSource): RequestRow {
  return { ...event, src_topic: src.topic, src_partition: src.partition, src_offset: src.offset };
}

/**
 * Serializes `event` as one JSONEachRow line (an object with the {@link REQUEST_COLUMNS} only:
 * fields a newer producer added are left out). For targets that keep a subset of the columns
 * (with input_format_skip_unknown_fields).
 */
export function requestLine(event: TelemetryEvent, src: EventSource): string {
  const row: Record<string, unknown> = {};
  for (const c of EVENT_COLUMNS) row[c] = event[c];
  // Optional in v1 events.
  row.upstream_model ??= '';
  row.ttft_ms ??= null;
  row.itl_mean_ms ??= null;
  row.itl_p95_ms ??= null;
  row.output_tps ??= null;
  row.cost_usd ??= null;
  row.tokens_estimated ??= false;
  row.src_topic = src.topic;
  row.src_partition = src.partition;
  row.src_offset = src.offset;
  return JSON.stringify(row);
}

/**
 * Serializes `event` as one JSONCompactEachRow line (an array in {@link REQUEST_COLUMNS} order):
 * about 40% fewer bytes than JSONEachRow, three times cheaper to build and a third cheaper for
 * ClickHouse to parse. The ingester's default.
 */
export function requestCompactLine(e: TelemetryEvent, src: EventSource): string {
  return JSON.stringify([
    e.event_id, e.ts, e.gateway_id, e.route, e.model, e.version, e.role, e.rollout_id, e.consumer_id, e.method, e.status, e.outcome,
    e.error_class, e.latency_ms, e.upstream_latency_ms, e.ttfb_ms, e.request_bytes, e.response_bytes, e.input_hash, e.output_hash,
    e.hash_key_id, e.input_redacted, e.redactions, e.prediction_label, e.prediction_score, e.tokens_in, e.tokens_out, e.correlation_id,
    e.trace_id, e.span_id, e.cache, e.upstream_model ?? '',
    e.ttft_ms ?? null, e.itl_mean_ms ?? null, e.itl_p95_ms ?? null, e.output_tps ?? null, e.cost_usd ?? null, e.tokens_estimated ?? false, e.schema_version,
    src.topic, src.partition, src.offset,
  ]);
}
