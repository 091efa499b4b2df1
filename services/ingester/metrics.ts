/**
 * The ingester's Prometheus metrics, registered on the registry the caller passes (one registry
 * per ingester). Rows per second is `rate(mlgate_ingester_rows_total[1m])`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The metric handles the ingester updates. */
export class IngesterMetrics {
  /** Rows inserted into ClickHouse, each batch once (a batch rebuilt from the ledger by the same process is not counted again). */
  readonly rows: Counter<string>;
  /** Messages read, by result (`valid`, `invalid`). */
  readonly messages: Counter<'result'>;
  /** Rows per insert. */
  readonly batchSize: Histogram<string>;
  /** Insert duration, retries excluded. */
  readonly insertDuration: Histogram<string>;
  /** Messages sent to the dead-letter destination, by reason. */
  readonly dlq: Counter<'reason'>;
  /** Insert attempts repeated after a failure. */
  readonly retries: Counter<string>;
  /** Failed insert attempts, by error code. */
  readonly insertFailures: Counter<'code'>;
  /** Messages not yet committed, per partition. */
  readonly lag: Gauge<'topic' | 'partition'>;
  /** 1 while consumption is paused because ClickHouse is unavailable. */
  readonly paused: Gauge<string>;
  /** Batches rebuilt from the ledger after a crash or rebalance. */
  readonly replays: Counter<string>;
  /** Rows not inserted because their event was already stored at another offset (or earlier in the batch). */
  readonly duplicates: Counter<string>;
  /** Rows not inserted because they were already stored at their own offset (a replay, or another ingester's batch of the range). */
  readonly alreadyStored: Counter<string>;
  /** Batches not inserted because another ingester claimed their partition after this one (a deposed owner's). */
  readonly fenced: Counter<string>;
  /** Rows not inserted because an erasure logged after their event covers them (by selector kind). */
  readonly erased: Counter<'selector'>;
  /** Offsets committed after a successful insert. */
  readonly commits: Counter<string>;
  /** Unix time of the last commit. */
  readonly lastCommit: Gauge<string>;
  /** Age of the oldest event of each batch when its insert finished (end-to-end freshness). */
  readonly freshness: Histogram<string>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.rows = new Counter({ name: 'mlgate_ingester_rows_total', help: 'Rows inserted into ClickHouse (a batch rebuilt from the ledger is counted once)', registers });
    this.messages = new Counter({ name: 'mlgate_ingester_messages_total', help: 'Messages read, by result', labelNames: ['result'], registers });
    this.batchSize = new Histogram({
      name: 'mlgate_ingester_batch_size', help: 'Rows per insert', registers,
      buckets: [1, 10, 100, 1000, 5000, 10_000, 25_000, 50_000, 100_000, 250_000],
    });
    this.insertDuration = new Histogram({
      name: 'mlgate_ingester_insert_duration_seconds', help: 'Duration of one successful insert', registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.dlq = new Counter({ name: 'mlgate_ingester_dlq_total', help: 'Messages sent to the dead-letter destination', labelNames: ['reason'], registers });
    this.retries = new Counter({ name: 'mlgate_ingester_retries_total', help: 'Insert attempts repeated after a failure', registers });
    this.insertFailures = new Counter({ name: 'mlgate_ingester_insert_failures_total', help: 'Failed insert attempts by error code', labelNames: ['code'], registers });
    this.lag = new Gauge({ name: 'mlgate_ingester_consumer_lag', help: 'Messages not yet committed, per partition', labelNames: ['topic', 'partition'], registers });
    this.paused = new Gauge({ name: 'mlgate_ingester_paused', help: '1 while consumption is paused (ClickHouse unavailable)', registers });
    this.replays = new Counter({ name: 'mlgate_ingester_replayed_batches_total', help: 'Batches rebuilt from the ledger after a crash or rebalance', registers });
    this.duplicates = new Counter({ name: 'mlgate_ingester_duplicate_events_total', help: 'Rows dropped because their event id was already stored at another offset or earlier in the batch', registers });
    this.alreadyStored = new Counter({ name: 'mlgate_ingester_already_stored_rows_total', help: 'Rows not inserted because they were already stored at their own offset (a replayed batch, or another ingester cut the range differently)', registers });
    this.fenced = new Counter({ name: 'mlgate_ingester_fenced_batches_total', help: 'Batches not inserted because another ingester claimed their partition since it was assigned here (left to the new owner)', registers });
    this.erased = new Counter({ name: 'mlgate_ingester_erased_rows_total', help: 'Rows not inserted because an erasure (erasure_log) of their consumer or input hash came after their event', labelNames: ['selector'], registers });
    this.commits = new Counter({ name: 'mlgate_ingester_commits_total', help: 'Offset commits after a successful insert', registers });
    this.lastCommit = new Gauge({ name: 'mlgate_ingester_last_commit_timestamp_seconds', help: 'Unix time of the last commit', registers });
    this.freshness = new Histogram({
      name: 'mlgate_ingester_event_freshness_seconds', help: 'Age of the oldest event of a batch when its insert finished', registers,
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
    });
    this.paused.set(0);
  }
}
