/**
 * The `telemetry` config section: hashing, redaction and the sink. Defaults live here; a config
 * with only `telemetry.hashing.key` is valid.
 */
import { z } from 'zod';

const fsyncPolicy = z.enum(['always', 'interval', 'never']);
const MiB = 1024 * 1024;

/** Settings of an on-disk local log (the spill, or the embedded transport). */
/** A disk age bound in hours: at least 1, at most 100 years (the spill, the local log, its dead letters). */
export const MaxAgeHours = z.number().int().min(1).max(24 * 36_500);

const LocalLogSection = (defaults: { maxBytes: number }) => z.strictObject({
  /** Directory; empty = a folder under the service's dataDir. */
  dir: z.string().default(''),
  /** Size at which a segment file is closed and a new one started. */
  segmentBytes: z.number().int().min(1024).default(16 * MiB),
  /** Cap on the log's bytes on disk; past it each further event is counted as dropped. */
  maxBytes: z.number().int().min(1024).default(defaults.maxBytes),
  /** `always`: fdatasync per append; `interval`: every fsyncIntervalMs; `never`: the OS decides. */
  fsync: fsyncPolicy.default('interval'),
  fsyncIntervalMs: z.number().int().min(1).max(60_000).default(200),
  /**
   * Longest time an event stays in this log, delivered or not: a segment whose newest event was
   * written longer ago is deleted and its undelivered events counted as expired. Absent:
   * {@link DEFAULT_MAX_AGE_HOURS} (the warehouse's default raw retention, 30 days; `mlgate start`
   * uses its `warehouse.retention.requests` instead). An older event would be TTL-deleted on
   * arrival anyway, so nothing that would have been kept is lost.
   */
  maxAgeHours: MaxAgeHours.optional(),
});

/** Age bound of the spill and the local log when `maxAgeHours` is absent: 30 days, the warehouse's default raw retention. */
export const DEFAULT_MAX_AGE_HOURS = 30 * 24;

/** Schema of `telemetry.hashing` (also read by the ingester, to match erasures by consumer). */
export const HashingSection = z.strictObject({
  /** HMAC key; at least 16 characters. Set it with MLGATE_HASH_KEY in production. */
  key: z.string().min(16, 'the hash key must be at least 16 characters'),
  /** Key id stored with each hash (rotate by changing key and id together). */
  keyId: z.string().min(1).max(100).default('k1'),
});

/** Schema of `telemetry.redaction`. */
export const RedactionSection = z.strictObject({
  /** Maximum characters of redacted input kept in the event. */
  maxChars: z.number().int().min(0).max(65536).default(2048),
  /** JSON paths always masked (dot form, `*` wildcard). */
  maskPaths: z.array(z.string().min(1)).default([]),
  /** JSON keys whose values are always masked (compared without case, `-`, `_`); absent = the built-in list. */
  maskKeys: z.array(z.string().min(1)).optional(),
});

/** Schema of the `telemetry` section. */
export const TelemetrySection = z.strictObject({
  /** Kafka topic for events. */
  topic: z.string().min(1).regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name').default('mlgate.telemetry.v1'),
  /** Partitions of the topic when the sink has to create it. */
  partitions: z.number().int().min(1).max(10_000).default(6),
  /** Replication factor when the sink creates the topic; absent = the broker's default. */
  replicationFactor: z.number().int().min(1).max(100).optional(),
  hashing: HashingSection,
  redaction: RedactionSection.prefault({}),
  /**
   * How a consumer id taken from a token (a JWT's subject, often an email) is stored in events:
   * `hash` = `sub:` + the first 16 hex digits of the keyed hash of the subject; `raw` = the
   * subject as it is (for deployments whose subjects are opaque). A subject that names a
   * configured consumer keeps that consumer's id either way.
   */
  consumerIds: z.enum(['hash', 'raw']).default('hash'),
  /** The in-memory queue between requests and the producer (never awaited by a request). */
  queue: z.strictObject({
    /** Hard bound: an event arriving when this many wait is counted as dropped. */
    maxEvents: z.number().int().min(10).default(50_000),
    /** Past this many waiting events the sink spills to disk instead of waiting for Kafka. */
    highWater: z.number().int().min(1).default(10_000),
  }).prefault({}).refine((q) => q.highWater < q.maxEvents, { message: 'highWater must be below maxEvents', path: ['highWater'] }),
  /** Producer batching: a batch is sent when it reaches maxEvents or maxBytes, or after lingerMs. */
  batch: z.strictObject({
    maxEvents: z.number().int().min(1).max(100_000).default(1000),
    /** Kept below the broker's default message.max.bytes (1 MiB) even when one partition gets it all. */
    maxBytes: z.number().int().min(1024).max(64 * MiB).default(512 * 1024),
    lingerMs: z.number().int().min(0).max(10_000).default(5),
  }).prefault({}),
  /** `worker` runs the Kafka producer in a worker thread, off the gateway's event loop. */
  producerThread: z.enum(['main', 'worker']).default('main'),
  /**
   * A Kafka send unacknowledged for this long, or an event waiting in memory this long, makes the
   * sink spill to disk. It bounds the events a SIGKILL can lose: those of about the last
   * 2.25 × stallMs (docs/telemetry.md, "Crash window").
   */
  stallMs: z.number().int().min(10).max(600_000).default(1000),
  /**
   * Events Kafka acknowledged in the last `seconds` (at most `maxBytes`) are kept and sent again
   * if the broker loses them (its log wiped or truncated: docs/telemetry.md, "A broker that lost
   * its data"). Make it longer than the ingester's lag; 0 seconds turns it off.
   */
  resendWindow: z.strictObject({
    seconds: z.number().int().min(0).max(3600).default(60),
    maxBytes: z.number().int().min(0).max(4096 * MiB).default(64 * MiB),
  }).prefault({}),
  /** File for events Kafka refuses for good; empty = `telemetry-dead-letter.jsonl` next to the spill directory. */
  deadLetterFile: z.string().default(''),
  /** Spill log used while Kafka is unreachable or slow. */
  spill: LocalLogSection({ maxBytes: 1024 * MiB }).prefault({}),
  /** The embedded mode's transport (no Kafka brokers configured). */
  localLog: LocalLogSection({ maxBytes: 2048 * MiB }).prefault({}),
});

/** How consumer ids from tokens are stored (`telemetry.consumerIds`). */
export type ConsumerIdMode = 'hash' | 'raw';

/** Parsed `telemetry` section. */
export type TelemetryConfig = z.output<typeof TelemetrySection>;
