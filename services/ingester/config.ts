/**
 * The `ingester` config section: where events come from, how they are batched, where bad ones
 * go, and where metrics are served. Defaults live here. Compose with `.prefault({})`.
 */
import { z } from 'zod';

const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name');

/** Schema of the `ingester` section. */
export const IngesterSection = z.strictObject({
  /**
   * `kafka`: a consumer group on `topic`; `local`: tail the local telemetry log (embedded mode);
   * `auto`: kafka when `kafka.brokers` is set, else local.
   */
  source: z.enum(['auto', 'kafka', 'local']).default('auto'),
  /** Telemetry topic. */
  topic: topicName.default('mlgate.telemetry.v1'),
  /** Dead-letter topic for messages that fail validation or are rejected by ClickHouse. */
  dlqTopic: topicName.default('mlgate.telemetry.dlq.v1'),
  /** Kafka consumer group. */
  groupId: z.string().min(1).max(200).default('mlgate-ingester'),
  /** Target table (a bare identifier in the warehouse database). */
  table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a plain identifier').default('requests'),
  /**
   * How rows travel to ClickHouse: `JSONCompactEachRow` (arrays in column order; the fast
   * default) or `JSONEachRow` (objects; use it with `skipUnknownFields` for a reduced table).
   */
  rowFormat: z.enum(['JSONCompactEachRow', 'JSONEachRow']).default('JSONCompactEachRow'),
  /**
   * Ignore event fields the target table lacks (`input_format_skip_unknown_fields`): for a
   * table that keeps a subset of the event, e.g. on an old server. Off: a missing column is an error.
   */
  skipUnknownFields: z.boolean().default(false),
  /** Batching. A batch is cut by rows, by fetched bytes or by time, whichever comes first. */
  batch: z.strictObject({
    /** Most rows in one insert. */
    maxRows: z.number().int().min(1).max(1_000_000).default(50_000),
    /** Kafka: bytes the broker may return per partition per fetch (bounds one batch). */
    maxBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(32 * 1024 * 1024),
    /** Kafka: the broker holds a fetch until this many bytes are ready or `lingerMs` passed. */
    minBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** Longest time an event waits to be batched. */
    lingerMs: z.number().int().min(1).max(60_000).default(1000),
    /**
     * Batches planned ahead of the insert in progress (1: none; decoding waits for each insert).
     * More overlap costs memory: up to (inFlight + 1) × maxRows decoded rows.
     */
    inFlight: z.number().int().min(1).max(8).default(2),
  }).prefault({}),
  /** Backoff while ClickHouse is unavailable: doubles from `initialMs` up to `maxMs`, with jitter. */
  retry: z.strictObject({
    initialMs: z.number().int().min(1).max(60_000).default(250),
    maxMs: z.number().int().min(1).max(600_000).default(10_000),
  }).prefault({}),
  /** Kafka group session timeout: how long a dead ingester keeps its partitions (ms; broker minimum 6000). */
  sessionTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
  /** How often consumer lag is read from the broker (ms). */
  lagIntervalMs: z.number().int().min(100).max(600_000).default(5000),
  /** Longest graceful shutdown: finishing the batch in hand and committing (ms). */
  shutdownTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /** A new consumer group starts at the oldest retained event (telemetry is never skipped). */
  fromBeginning: z.boolean().default(true),
  /** Exactly-once bookkeeping (batch ledger + deduplication tokens); needs ClickHouse 22.2 or later. */
  exactlyOnce: z.boolean().default(true),
  /**
   * Drop an event already stored at another offset (it reached the topic twice): the batch's
   * event ids are looked up before its insert. Active only with `exactlyOnce` (ClickHouse 22.2 or later).
   */
  dedupeEvents: z.boolean().default(true),
  /**
   * Drop rows that an erasure logged in `erasure_log` covers (its consumer or input hash, and the
   * event at or before the erasure), so events still in flight when the erasure ran are not
   * stored after it (erasure-filter.ts). Consumer erasures need `telemetry.hashing`.
   */
  applyErasures: z.boolean().default(true),
  /** Local-log source (embedded mode). */
  localLog: z.strictObject({
    /** Log directory; relative to `dataDir`. Default `<dataDir>/telemetry`. */
    dir: z.string().min(1).optional(),
    /** Reader name (its committed offset is kept in the log directory). */
    reader: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/).default('ingester'),
    /** Poll interval when the log has nothing new (ms). */
    pollMs: z.number().int().min(1).max(60_000).default(200),
  }).prefault({}),
  /** HTTP endpoint with /metrics and /healthz. */
  http: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(9465),
  }).prefault({}),
});

/** Parsed `ingester` section. */
export type IngesterConfig = z.output<typeof IngesterSection>;
