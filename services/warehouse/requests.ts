/**
 * How a telemetry event becomes a `requests` row: every event field is a column of the same name
 * and JSON shape (ts as ms since the epoch goes straight into DateTime64(3)), plus where the
 * ingester read it. Kept next to the schema so the two change together.
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

/** Builds the row for `event`. Mutates nothing: the event is copied. */
export function toRequestRow(event: TelemetryEvent, src: EventSource): RequestRow {
  return { ...event, src_topic: src.topic, src_partition: src.partition, src_offset: src.offset };
}

/**
 * Serializes `event` as one JSONEachRow line of `requests`, reusing the event object (the
 * ingester's hot path: the event is the validator's fresh output and is not used afterwards).
 */
export function requestLine(event: TelemetryEvent, src: EventSource): string {
  const row = event as RequestRow;
  row.src_topic = src.topic;
  row.src_partition = src.partition;
  row.src_offset = src.offset;
  return JSON.stringify(row);
}
