/**
 * The event source port: where the ingester reads telemetry messages from. Two adapters: a Kafka
 * consumer group (kafka-source.ts) and the local append-only log of the embedded mode
 * (local-source.ts). A source hands the core one batch at a time, per partition, in offset
 * order; the core tells it when a prefix of a partition is stored (commit) and which messages
 * are dead letters.
 *
 * Redelivery contract: when the handler throws, the source delivers that partition again from
 * the offset after its last commit (or from where it started, if it never committed).
 */

/** One message as read. */
export interface SourceMessage {
  /** Offset within its partition (Kafka offsets fit in a double for any realistic topic). */
  offset: number;
  /** The message bytes; null for a Kafka tombstone. */
  value: Buffer | null;
  /** Kafka key, if any. */
  key?: Buffer | null;
}

/** Consecutive messages of one partition. */
export interface SourceBatch {
  /** The source's name: the Kafka topic, or `local:<reader>`. Part of deduplication tokens. */
  source: string;
  partition: number;
  messages: SourceMessage[];
}

/** A message that cannot be stored, with why. */
export interface DeadLetter {
  source: string;
  partition: number;
  offset: number;
  value: Buffer | null;
  key?: Buffer | null;
  /** Short machine reason: `invalid_json`, `schema_invalid`, `empty`, `insert_rejected`. */
  reason: DeadLetterReason;
  /** Human detail (the failing fields), capped at 1000 characters. */
  detail: string;
}

/** Dead-letter reason codes (the `reason` label of mlgate_ingester_dlq_total). */
export type DeadLetterReason = 'invalid_json' | 'schema_invalid' | 'empty' | 'insert_rejected';

/** What the core may do while it holds a batch. */
export interface BatchControl {
  /** Keeps the source's group membership alive during a long retry; throws when the batch must be abandoned. */
  heartbeat(): Promise<void>;
  /** False once the source is stopping or the partition was taken away. */
  isRunning(): boolean;
}

/** The core's batch callback. */
export type BatchHandler = (batch: SourceBatch, ctl: BatchControl) => Promise<void>;

/** Current backlog of one partition. */
export interface PartitionLag {
  topic: string;
  partition: number;
  /** Messages written but not yet committed by this ingester's group/reader. */
  lag: number;
}

/** An event source. */
export interface Source {
  /** `kafka` or `local`. */
  readonly kind: 'kafka' | 'local';
  /**
   * Starts delivering batches to `handler`, one at a time. `onReassign` is called when the
   * partitions this consumer owns may have changed (the core then forgets per-partition state);
   * `onFatal` when the source gave up for good (the process should exit and be restarted).
   */
  start(handler: BatchHandler, onReassign: () => void, onFatal: (err: Error) => void): Promise<void>;
  /** Records that every message of `partition` before `nextOffset` is stored. */
  commit(source: string, partition: number, nextOffset: number): Promise<void>;
  /** Writes dead letters (before the offsets past them are committed). */
  deadLetter(items: readonly DeadLetter[]): Promise<void>;
  /** Stops fetching new messages (while ClickHouse is unavailable). */
  pause(): void;
  /** Fetches again. */
  resume(): void;
  /** Backlog per partition, read from the broker or the log. */
  lag(): Promise<PartitionLag[]>;
  /** Stops delivering and leaves the group. Call after the core finished its batch. */
  stop(): Promise<void>;
}
