/**
 * The ingester core: takes batches from a {@link Source}, validates each message, inserts the
 * valid ones into ClickHouse in batches named by their offset range, sends the rest to the
 * dead-letter destination, and commits a partition's offsets only after ClickHouse has the rows.
 *
 * Exactly once (docs/ingester.md): each batch is recorded in the ledger before its insert, and
 * inserted with the deduplication token `source:partition:first-last`. Whoever processes the
 * partition next (after a crash, a kill or a rebalance) rebuilds the recorded batches with the
 * same boundaries, so ClickHouse drops what had landed, in `requests` and in `requests_1m`.
 *
 * While ClickHouse is unavailable the source is paused and the insert retried with backoff,
 * forever: nothing is dropped, and the backlog shows as consumer lag.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { WarehouseErrors, shortMessage } from '../warehouse/errors.ts';
import { parseVersion, type Warehouse } from '../warehouse/warehouse.ts';
import type { IngesterConfig } from './config.ts';
import { decodeMessage, type DecodedItem } from './decode.ts';
import { IngesterErrors } from './errors.ts';
import { BatchLedger, batchToken } from './ledger.ts';
import { IngesterMetrics } from './metrics.ts';
import { normalizeForced, planChunks, type OffsetRange, type PlannedChunk } from './planner.ts';
import { Backoff } from './retry.ts';
import type { BatchControl, DeadLetter, Source, SourceBatch } from './source.ts';

/** What {@link startIngester} needs. */
export interface IngesterOptions {
  /** The `ingester` config section. */
  config: IngesterConfig;
  warehouse: Warehouse;
  source: Source;
  /** Registry for the ingester's metrics (one per ingester). */
  registry: Registry;
  logger?: Logger;
}

/** Counters for health checks and tests. */
export interface IngesterStats {
  rows: number;
  batches: number;
  deadLetters: number;
  replays: number;
  paused: boolean;
  stopping: boolean;
  /** Set when the source failed for good; the process should exit. */
  failed: Error | undefined;
}

/** A running ingester. */
export interface Ingester {
  stats(): IngesterStats;
  /**
   * Graceful stop: finishes the batch in hand (insert, dead letters, commit), then stops the
   * source (leaving the consumer group). Gives up on the batch after `shutdownTimeoutMs` (it is
   * then redelivered to the next consumer, and deduplicated).
   */
  stop(): Promise<void>;
  /** Resolves when the source failed for good (with the error). */
  readonly failure: Promise<Error>;
}

interface PartitionState {
  /** Ledger ranges still to rebuild; undefined until read for this assignment. */
  forced: OffsetRange[] | undefined;
  /** Items held for a ledger range that is not complete yet. */
  carry: DecodedItem[];
}

class IngesterCore implements Ingester {
  private readonly cfg: IngesterConfig;
  private readonly wh: Warehouse;
  private readonly source: Source;
  private readonly log: Logger;
  private readonly metrics: IngesterMetrics;
  private readonly ledger: BatchLedger;
  private readonly parts = new Map<string, PartitionState>();
  private readonly counts = { rows: 0, batches: 0, deadLetters: 0, replays: 0 };
  private pausedNow = false;
  private stopping = false;
  private abandon = false;
  private failed: Error | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private lagTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private failWith!: (err: Error) => void;
  readonly failure: Promise<Error>;

  constructor(opts: IngesterOptions, exactlyOnce: boolean) {
    this.cfg = opts.config;
    this.wh = opts.warehouse;
    this.source = opts.source;
    this.log = opts.logger ?? silentLogger();
    this.metrics = new IngesterMetrics(opts.registry);
    this.ledger = new BatchLedger(opts.warehouse, exactlyOnce);
    this.failure = new Promise((resolve) => { this.failWith = resolve; });
  }

  async start(): Promise<void> {
    await this.source.start(
      (batch, ctl) => this.track(this.handle(batch, ctl)),
      () => this.parts.clear(),
      (err) => {
        this.failed = err;
        this.log.error({ err }, 'event source failed; the ingester cannot continue');
        this.failWith(err);
      },
    );
    this.lagTimer = setInterval(() => { void this.pollLag(); }, this.cfg.lagIntervalMs);
    this.lagTimer.unref();
    void this.pollLag();
  }

  stats(): IngesterStats {
    return { ...this.counts, paused: this.pausedNow, stopping: this.stopping, failed: this.failed };
  }

  private track(p: Promise<void>): Promise<void> {
    const settled = p.catch(() => {}).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
    return p;
  }

  private async handle(batch: SourceBatch, ctl: BatchControl): Promise<void> {
    if (this.stopping) throw IngesterErrors.stopped('the ingester is stopping');
    if (batch.messages.length === 0) return;
    const key = `${batch.source}\u0000${batch.partition}`;
    let st = this.parts.get(key);
    if (!st) this.parts.set(key, (st = { forced: undefined, carry: [] }));
    try {
      if (st.forced === undefined) {
        const from = batch.messages[0]!.offset;
        const ranges = await this.retrying('read the batch ledger', ctl, () => this.ledger.pending(batch.source, batch.partition, from));
        st.forced = normalizeForced(ranges, from);
        if (st.forced.length) this.log.info({ source: batch.source, partition: batch.partition, batches: st.forced.length }, 'rebuilding batches from the ledger');
      }
      const items = st.carry.concat(batch.messages.map((m) => decodeMessage(batch.source, batch.partition, m)));
      const plan = planChunks(items.map((i) => i.offset), st.forced, this.cfg.batch.maxRows);
      for (const r of plan.skipped) this.log.warn({ source: batch.source, partition: batch.partition, range: r }, 'ledger range had no messages left; skipped');
      for (const chunk of plan.chunks) {
        await this.flush(batch.source, batch.partition, items.slice(chunk.from, chunk.to + 1), chunk, ctl);
      }
      st.forced = plan.forced;
      st.carry = items.slice(plan.carryFrom);
    } catch (err) {
      // Forget this partition's state: the source redelivers from the last commit.
      this.parts.delete(key);
      throw err;
    }
  }

  private async flush(source: string, partition: number, items: DecodedItem[], chunk: PlannedChunk, ctl: BatchControl): Promise<void> {
    const valid = items.filter((i) => i.line !== undefined);
    const dead = items.flatMap((i) => (i.dead ? [i.dead] : []));
    this.metrics.messages.inc({ result: 'valid' }, valid.length);
    if (dead.length) this.metrics.messages.inc({ result: 'invalid' }, dead.length);
    if (valid.length) {
      const token = this.ledger.enabled ? batchToken(source, partition, chunk.range) : undefined;
      if (chunk.replay) {
        this.metrics.replays.inc();
        this.counts.replays++;
      } else {
        await this.retrying('record the batch in the ledger', ctl, () => this.ledger.record(source, partition, chunk.range, valid.length));
      }
      const rejected = await this.retrying(`insert ${valid.length} rows`, ctl, () => this.insertOrSplit(source, partition, valid, token));
      dead.push(...rejected);
      let oldest = Infinity;
      for (const v of valid) if (v.ts! < oldest) oldest = v.ts!;
      this.metrics.freshness.observe(Math.max(0, (Date.now() - oldest) / 1000));
      this.counts.rows += valid.length - rejected.length;
    }
    if (dead.length) {
      await this.retrying(`dead-letter ${dead.length} messages`, ctl, () => this.source.deadLetter(dead));
      for (const d of dead) this.metrics.dlq.inc({ reason: d.reason });
      this.counts.deadLetters += dead.length;
      this.log.warn({ source, partition, count: dead.length, first: { offset: dead[0]!.offset, reason: dead[0]!.reason, detail: dead[0]!.detail } },
        'messages sent to the dead-letter destination');
    }
    try {
      await this.source.commit(source, partition, Math.max(chunk.range.last, items[items.length - 1]!.offset) + 1);
    } catch (err) {
      throw IngesterErrors.commitFailed(`commit of ${source}:${partition} up to ${chunk.range.last} failed: ${shortMessage(err)}`, { cause: err });
    }
    this.counts.batches++;
    this.metrics.commits.inc();
    this.metrics.lastCommit.set(Date.now() / 1000);
  }

  /**
   * Inserts the lines; when ClickHouse rejects the data itself, halves the batch until the bad
   * rows are alone and returns them as dead letters. Sub-batch tokens derive from the batch
   * token, so a rerun after a crash splits the same way and deduplicates.
   */
  private async insertOrSplit(source: string, partition: number, items: DecodedItem[], token: string | undefined): Promise<DeadLetter[]> {
    const started = process.hrtime.bigint();
    try {
      const opts = { skipUnknownFields: this.cfg.skipUnknownFields, ...(token ? { dedupToken: token } : {}) };
      await this.wh.insertJsonLines(this.cfg.table, Buffer.from(items.map((i) => i.line).join('\n')), opts);
    } catch (err) {
      if (!WarehouseErrors.dataRejected.is(err)) throw err;
      if (items.length === 1) {
        const i = items[0]!;
        return [{ source, partition, offset: i.offset, value: i.value, key: i.key ?? null, reason: 'insert_rejected', detail: shortMessage(err, 1000) }];
      }
      const mid = items.length >> 1;
      const left = items.slice(0, mid);
      const right = items.slice(mid);
      const sub = (part: DecodedItem[]) => token && `${token}/${part[0]!.offset}-${part[part.length - 1]!.offset}`;
      return [
        ...(await this.insertOrSplit(source, partition, left, sub(left))),
        ...(await this.insertOrSplit(source, partition, right, sub(right))),
      ];
    }
    this.metrics.insertDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.metrics.batchSize.observe(items.length);
    this.metrics.rows.inc(items.length);
    return [];
  }

  /** Runs `fn` until it succeeds, pausing the source and backing off meanwhile. */
  private async retrying<T>(what: string, ctl: BatchControl, fn: () => Promise<T>): Promise<T> {
    const backoff = new Backoff(this.cfg.retry.initialMs, this.cfg.retry.maxMs);
    let lastLog = 0;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && (this.abandon || !ctl.isRunning())) throw IngesterErrors.stopped(`stopped while retrying to ${what}`);
      try {
        const result = await fn();
        if (attempt > 0) this.resumeSource(what, attempt);
        return result;
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'UNKNOWN';
        this.metrics.insertFailures.inc({ code });
        this.metrics.retries.inc();
        if (!this.pausedNow) {
          this.pausedNow = true;
          this.metrics.paused.set(1);
          this.source.pause();
        }
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          this.log.warn({ err, attempt }, `failed to ${what}; consumption paused, retrying`);
        }
      }
      await backoff.wait(ctl, () => this.abandon);
    }
  }

  private resumeSource(what: string, attempts: number): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    this.metrics.paused.set(0);
    this.source.resume();
    this.log.info({ attempts }, `${what} succeeded again; consumption resumed`);
  }

  private async pollLag(): Promise<void> {
    try {
      const lags = await this.source.lag();
      for (const l of lags) this.metrics.lag.set({ topic: l.topic, partition: String(l.partition) }, l.lag);
    } catch (err) {
      this.log.debug({ err }, 'could not read consumer lag');
    }
  }

  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    const giveUp = setTimeout(() => { this.abandon = true; }, this.cfg.shutdownTimeoutMs);
    giveUp.unref();
    try {
      while (this.inFlight.size) await Promise.all(this.inFlight);
    } finally {
      clearTimeout(giveUp);
    }
    if (this.lagTimer) clearInterval(this.lagTimer);
    await this.source.stop();
    this.log.info(this.counts, 'ingester stopped');
  }
}

/**
 * Starts an ingester. Exactly-once bookkeeping is used when the config asks for it and the
 * warehouse supports it (the embedded engine, or a server recent enough for the mlgate schema).
 */
export async function startIngester(opts: IngesterOptions): Promise<Ingester> {
  if (!opts || !opts.config || !opts.warehouse || !opts.source || !opts.registry) {
    throw IngesterErrors.badOptions('startIngester needs config, warehouse, source and registry');
  }
  const log = opts.logger ?? silentLogger();
  let exactlyOnce = opts.config.exactlyOnce;
  if (exactlyOnce && opts.warehouse.engine === 'server') {
    const version = await opts.warehouse.serverVersion().catch(() => undefined);
    const [major, minor] = version ? parseVersion(version) : [99, 0];
    if (major < 22 || (major === 22 && minor < 2)) {
      log.warn({ version }, 'this ClickHouse server has no insert deduplication tokens: ingestion is at-least-once');
      exactlyOnce = false;
    }
  }
  const core = new IngesterCore(opts, exactlyOnce);
  await core.start();
  return core;
}
