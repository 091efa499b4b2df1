/**
 * The writing half of the ingester: a FIFO of planned batches, each inserted (with its
 * deduplication token), its dead letters written, then its offsets committed, in order. It runs
 * behind the source so the next fetch and decode overlap the current insert; at most `depth`
 * batches wait. Every batch in the queue is already in the ledger, so dropping queued batches
 * (after a rebalance) or crashing with a full queue loses nothing: the next owner rebuilds them.
 */
import type { Logger } from '../core/log.ts';
import { WarehouseErrors, shortMessage } from '../warehouse/errors.ts';
import { REQUEST_COLUMNS } from '../warehouse/request-rows.ts';
import type { JsonLinesOptions, Warehouse } from '../warehouse/warehouse.ts';
import type { IngesterConfig } from './config.ts';
import type { PartitionClaims } from './batch-ledger.ts';
import type { DecodedItem } from './decode.ts';
import { dropDuplicates, keptToken } from './dedupe.ts';
import type { ErasureFilter } from './erasure-filter.ts';
import { IngesterErrors } from './errors.ts';
import type { IngesterMetrics } from './metrics.ts';
import type { OffsetRange } from './planner.ts';
import type { Retrier } from './retry.ts';
import type { BatchControl, DeadLetter, Source } from './source.ts';

/** One planned batch. */
export interface WriteJob {
  source: string;
  partition: number;
  range: OffsetRange;
  /** Offset to commit once stored (after the range and any message it covers). */
  commitTo: number;
  valid: DecodedItem[];
  dead: DeadLetter[];
  /** Insert deduplication token; undefined when exactly-once is off. */
  token: string | undefined;
  /** Assignment generation the job was planned in; a job from an older one is dropped. */
  generation: number;
  /** When the messages were read from the source, on the erasure filter's clock. */
  readAt: number;
}

/** Counters the writer keeps. */
export interface WriterCounts {
  rows: number;
  batches: number;
  deadLetters: number;
}

/** Dependencies of {@link BatchWriter}. */
export interface WriterOptions {
  cfg: IngesterConfig;
  warehouse: Warehouse;
  source: Source;
  metrics: IngesterMetrics;
  retrier: Retrier;
  log: Logger;
  counts: WriterCounts;
  /** Current assignment generation. */
  generation(): number;
  /** True once the shutdown deadline passed. */
  abandoned(): boolean;
  /** Look up event ids before each insert and drop events already stored (see dedupe.ts). */
  dedupe: boolean;
  /** The partition claims checked just before each insert (a disabled fence never refuses). */
  claims: PartitionClaims;
  /** Drops rows an earlier erasure covers (see erasure-filter.ts); undefined = off. */
  erasures: ErasureFilter | undefined;
}

/** How many recent batch tokens are remembered so that a rebuilt batch's rows are not counted twice. */
const COUNTED_TOKENS = 20_000;

/** Inserts, dead-letters and commits planned batches in order. */
export class BatchWriter {
  private readonly o: WriterOptions;
  /**
   * Tokens of inserts already counted in `rows` (insertion order, oldest dropped first). A batch
   * rebuilt from the ledger after a failed commit is inserted again with the same token and
   * ClickHouse drops it as a repeat; its rows must not be counted again.
   */
  private readonly counted = new Set<string>();
  private readonly queue: WriteJob[] = [];
  private running: Promise<void> | undefined;
  private readonly spaceWaiters: Array<() => void> = [];
  private readonly ctl: BatchControl;

  constructor(opts: WriterOptions) {
    this.o = opts;
    this.ctl = { heartbeat: async () => {}, isRunning: () => !opts.abandoned() };
  }

  /** Batches queued or being written. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a job, waiting (and heartbeating) while `depth` jobs are ahead of it. */
  async enqueue(job: WriteJob, ctl: BatchControl): Promise<void> {
    while (this.queue.length >= this.o.cfg.batch.inFlight) {
      if (this.o.abandoned() || !ctl.isRunning()) throw IngesterErrors.stopped('stopped while waiting to queue a batch');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.spaceWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
      await ctl.heartbeat();
    }
    this.queue.push(job);
    this.kick();
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length) this.kick();
    });
  }

  /** Resolves when the queue is empty (or abandoned). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const job = this.queue[0]!;
      try {
        if (job.generation === this.o.generation()) await this.write(job);
      } catch (err) {
        if (IngesterErrors.stopped.is(err)) {
          this.queue.length = 0;
          this.wake();
          return;
        }
        this.o.log.error({ err, source: job.source, partition: job.partition }, 'batch write failed; it will be rebuilt from the ledger');
      }
      this.queue.shift();
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  private async write(job: WriteJob): Promise<void> {
    const { metrics, retrier, counts } = this.o;
    const dead = [...job.dead];
    let valid = job.valid;
    if (valid.length && this.o.dedupe) {
      // Looked up at write time, in queue order: every earlier batch of this partition is stored.
      const d = await retrier.run(`look up ${valid.length} event ids`, this.ctl, () => dropDuplicates(this.o.warehouse, this.o.cfg.table, job.source, job.partition, job.valid));
      if (d.dropped || d.stored) valid = d.keep;
      if (d.dropped) {
        metrics.duplicates.inc(d.dropped);
        this.o.log.info({ source: job.source, partition: job.partition, dropped: d.dropped }, 'events already stored at another offset were not inserted again');
      }
      if (d.stored) {
        metrics.alreadyStored.inc(d.stored);
        this.o.log.info({ source: job.source, partition: job.partition, range: job.range, stored: d.stored, left: valid.length },
          'rows of this range were already stored (a replay, or another ingester\'s batch); only the rest is inserted');
      }
    }
    if (valid.length && this.o.erasures) {
      const filter = this.o.erasures;
      // A read of the erasure log that started after this batch was read: every erasure logged by then applies.
      await retrier.run('read the erasure log', this.ctl, () => filter.ensureFresh(job.readAt));
      const e = filter.filter(valid);
      const n = e.erased.consumer + e.erased.input_hash;
      if (n) {
        valid = e.keep;
        for (const [selector, count] of Object.entries(e.erased)) if (count) metrics.erased.inc({ selector }, count);
        this.o.log.info({ source: job.source, partition: job.partition, range: job.range, erased: e.erased, left: valid.length },
          'rows covered by an earlier erasure were not inserted');
      }
    }
    // Rows dropped above: the token names the rows kept, so a replay that drops the same ones
    // inserts under the same token (and one that finds some stored inserts only the rest).
    const token = job.token && valid.length !== job.valid.length ? keptToken(job.token, valid) : job.token;
    if (valid.length) {
      // The fence, as late as it can be: a newer claim means a rebalance gave the partition to
      // another ingester, which rebuilds this batch from the ledger; nothing is inserted or committed.
      const claims = this.o.claims;
      if (!(await retrier.run('check the partition claim', this.ctl, () => claims.stillOwner(job.source, job.partition)))) {
        metrics.fenced.inc();
        this.o.log.warn({ source: job.source, partition: job.partition, range: job.range },
          'another ingester claimed this partition since it was assigned here: batch left to the new owner');
        return;
      }
      const rejected = await retrier.run(`insert ${valid.length} rows`, this.ctl, () => this.insertOrSplit(job, valid, token));
      dead.push(...rejected);
      let oldest = Infinity;
      for (const v of valid) if (v.ts! < oldest) oldest = v.ts!;
      metrics.freshness.observe(Math.max(0, (Date.now() - oldest) / 1000));
    }
    if (dead.length) {
      await retrier.run(`dead-letter ${dead.length} messages`, this.ctl, () => this.o.source.deadLetter(dead));
      for (const d of dead) metrics.dlq.inc({ reason: d.reason });
      counts.deadLetters += dead.length;
      const first = dead[0]!;
      this.o.log.warn({ source: job.source, partition: job.partition, count: dead.length, first: { offset: first.offset, reason: first.reason, detail: first.detail } },
        'messages sent to the dead-letter destination');
    }
    try {
      await this.o.source.commit(job.source, job.partition, job.commitTo);
    } catch (err) {
      // The rows are stored: a lost commit only means this range is read again and deduplicated.
      this.o.log.warn({ err, source: job.source, partition: job.partition, offset: job.commitTo }, 'offset commit failed after the insert');
      return;
    }
    counts.batches++;
    metrics.commits.inc();
    metrics.lastCommit.set(Date.now() / 1000);
  }

  /**
   * Inserts the rows; when ClickHouse rejects the data itself, halves the batch until the bad
   * rows are alone and returns them as dead letters. Sub-batch tokens derive from the batch
   * token, so a rerun after a crash splits the same way and deduplicates.
   */
  private async insertOrSplit(job: WriteJob, items: DecodedItem[], token: string | undefined): Promise<DeadLetter[]> {
    const { cfg, metrics } = this.o;
    const started = process.hrtime.bigint();
    try {
      const compact = cfg.rowFormat === 'JSONCompactEachRow';
      const opts: JsonLinesOptions = {
        format: cfg.rowFormat, skipUnknownFields: cfg.skipUnknownFields,
        ...(compact ? { columns: REQUEST_COLUMNS } : {}), ...(token ? { dedupToken: token } : {}),
      };
      await this.o.warehouse.insertJsonLines(cfg.table, Buffer.from(items.map((i) => i.line).join('\n')), opts);
    } catch (err) {
      if (!WarehouseErrors.dataRejected.is(err)) throw err;
      if (items.length === 1) {
        const i = items[0]!;
        return [{ source: job.source, partition: job.partition, offset: i.offset, value: i.value, key: i.key ?? null, reason: 'insert_rejected', detail: shortMessage(err, 1000) }];
      }
      const mid = items.length >> 1;
      const sub = (part: DecodedItem[]) => token && `${token}/${part[0]!.offset}-${part[part.length - 1]!.offset}`;
      const left = items.slice(0, mid);
      const right = items.slice(mid);
      return [...(await this.insertOrSplit(job, left, sub(left))), ...(await this.insertOrSplit(job, right, sub(right)))];
    }
    metrics.insertDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.batchSize.observe(items.length);
    if (this.firstInsert(token)) {
      metrics.rows.inc(items.length);
      this.o.counts.rows += items.length;
    }
    return [];
  }

  /** True unless an insert with this token was already counted (no token: at-least-once, always counted). */
  private firstInsert(token: string | undefined): boolean {
    if (!token) return true;
    if (this.counted.has(token)) return false;
    this.counted.add(token);
    if (this.counted.size > COUNTED_TOKENS) this.counted.delete(this.counted.values().next().value!);
    return true;
  }
}
