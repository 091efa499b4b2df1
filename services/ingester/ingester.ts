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
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import type { Hasher } from '../telemetry/hash.ts';
import { parseVersion, type Warehouse } from '../warehouse/warehouse.ts';
import type { IngesterConfig } from './config.ts';
import { createMessageDecoder, type DecodedItem, type MessageDecoder } from './decode.ts';
import { ErasureFilter } from './erasure-filter.ts';
import { IngesterErrors } from './errors.ts';
import { BatchLedger, PartitionClaims, batchToken } from './batch-ledger.ts';
import { IngesterMetrics } from './metrics.ts';
import { normalizeForced, planChunks, type OffsetRange, type PlannedChunk } from './planner.ts';
import { Retrier } from './retry.ts';
import type { BatchControl, Source, SourceBatch } from './source.ts';
import { BatchWriter } from './writer.ts';

/** What {@link startIngester} needs. */
export interface IngesterOptions {
  /** The `ingester` config section. */
  config: IngesterConfig;
  warehouse: Warehouse;
  source: Source;
  /** Registry for the ingester's metrics (one per ingester). */
  registry: Registry;
  logger?: Logger;
  /**
   * The gateways' telemetry hasher: erasures by consumer are matched by the keyed hash of the
   * consumer id (erasure-filter.ts). Without it they are not applied at ingest (a warning).
   */
  hasher?: Hasher | undefined;
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
  /**
   * Waits until everything the source holds is stored and committed (its lag is 0 and no batch
   * is being written), at most `timeoutMs`. Resolves with what was left (0 = drained). For a
   * graceful stop that leaves nothing behind when the events are reachable.
   */
  drain(timeoutMs: number): Promise<number>;
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
  private readonly source: Source;
  private readonly log: Logger;
  private readonly metrics: IngesterMetrics;
  private readonly ledger: BatchLedger;
  private readonly claims: PartitionClaims;
  /** Per partition: the assignment generation this ingester last claimed it in. */
  private readonly claimedIn = new Map<string, number>();
  private readonly retrier: Retrier;
  private readonly writer: BatchWriter;
  private readonly decode: MessageDecoder;
  private readonly erasures: ErasureFilter | undefined;
  private readonly parts = new Map<string, PartitionState>();
  private readonly counts = { rows: 0, batches: 0, deadLetters: 0, replays: 0 };
  private generation = 0;
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
    this.source = opts.source;
    this.log = opts.logger ?? silentLogger();
    this.metrics = new IngesterMetrics(opts.registry);
    this.ledger = new BatchLedger(opts.warehouse, exactlyOnce);
    this.claims = new PartitionClaims(opts.warehouse, exactlyOnce, randomUUID());
    this.decode = createMessageDecoder(this.cfg.rowFormat);
    this.retrier = new Retrier({
      initialMs: this.cfg.retry.initialMs, maxMs: this.cfg.retry.maxMs, metrics: this.metrics, log: this.log,
      pause: () => this.source.pause(), resume: () => this.source.resume(), abandoned: () => this.abandon,
    });
    this.erasures = this.cfg.applyErasures ? new ErasureFilter({ warehouse: opts.warehouse, hasher: opts.hasher, log: this.log }) : undefined;
    this.writer = new BatchWriter({
      cfg: this.cfg, warehouse: opts.warehouse, source: opts.source, metrics: this.metrics, retrier: this.retrier, log: this.log,
      counts: this.counts, generation: () => this.generation, abandoned: () => this.abandon,
      dedupe: exactlyOnce && this.cfg.dedupeEvents, erasures: this.erasures, claims: this.claims,
    });
    this.failure = new Promise((resolve) => { this.failWith = resolve; });
  }

  async start(): Promise<void> {
    // A first read of the erasure log; each batch waits for a read started after it was read anyway.
    this.erasures?.ensureFresh(this.erasures.now()).catch((err: unknown) => this.log.warn({ err }, 'could not read the erasure log yet; retried before the first insert'));
    await this.source.start(
      (batch, ctl) => this.track(this.handle(batch, ctl)),
      () => {
        // Partitions may have moved: forget their state and drop batches not yet written (they
        // are in the ledger; whoever owns the partition now rebuilds them).
        this.generation++;
        this.parts.clear();
      },
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
    return { ...this.counts, paused: this.retrier.paused, stopping: this.stopping, failed: this.failed };
  }

  private track(p: Promise<void>): Promise<void> {
    const settled = p.catch(() => {}).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
    return p;
  }

  private async handle(batch: SourceBatch, ctl: BatchControl): Promise<void> {
    if (this.stopping) throw IngesterErrors.stopped('the ingester is stopping');
    if (batch.messages.length === 0) return;
    const readAt = this.erasures?.now() ?? 0;
    const key = `${batch.source}\u0000${batch.partition}`;
    let st = this.parts.get(key);
    if (!st) this.parts.set(key, (st = { forced: undefined, carry: [] }));
    try {
      if (this.claimedIn.get(key) !== this.generation) {
        // Once per assignment (not after an error: a deposed owner must not claim back).
        const generation = this.generation;
        await this.retrier.run('claim the partition', ctl, () => this.claims.claim(batch.source, batch.partition));
        this.claimedIn.set(key, generation);
      }
      if (st.forced === undefined) {
        const from = batch.messages[0]!.offset;
        const ranges = await this.retrier.run('read the batch ledger', ctl, () => this.ledger.pending(batch.source, batch.partition, from));
        st.forced = normalizeForced(ranges, from);
        if (st.forced.length) this.log.info({ source: batch.source, partition: batch.partition, batches: st.forced.length }, 'rebuilding batches from the ledger');
      }
      const items = st.carry.concat(batch.messages.map((m) => this.decode(batch.source, batch.partition, m)));
      const plan = planChunks(items.map((i) => i.offset), st.forced, this.cfg.batch.maxRows);
      for (const r of plan.skipped) this.log.warn({ source: batch.source, partition: batch.partition, range: r }, 'ledger range had no messages left; skipped');
      for (const chunk of plan.chunks) {
        await this.plan(batch.source, batch.partition, items.slice(chunk.from, chunk.to + 1), chunk, ctl, readAt);
      }
      st.forced = plan.forced;
      st.carry = items.slice(plan.carryFrom);
    } catch (err) {
      // Forget this partition's state: the source redelivers from the last commit.
      this.parts.delete(key);
      throw err;
    }
  }

  /** Records a batch in the ledger (before anything of it can reach ClickHouse) and queues it. */
  private async plan(source: string, partition: number, items: DecodedItem[], chunk: PlannedChunk, ctl: BatchControl, readAt: number): Promise<void> {
    const valid = items.filter((i) => i.line !== undefined);
    const dead = items.flatMap((i) => (i.dead ? [i.dead] : []));
    this.metrics.messages.inc({ result: 'valid' }, valid.length);
    if (dead.length) this.metrics.messages.inc({ result: 'invalid' }, dead.length);
    if (valid.length && chunk.replay) {
      this.metrics.replays.inc();
      this.counts.replays++;
    } else if (valid.length) {
      await this.retrier.run('record the batch in the ledger', ctl, () => this.ledger.record(source, partition, chunk.range, valid.length));
    }
    await this.writer.enqueue({
      source, partition, range: chunk.range, valid, dead, generation: this.generation, readAt,
      commitTo: Math.max(chunk.range.last, items[items.length - 1]!.offset) + 1,
      token: valid.length && this.ledger.enabled ? batchToken(source, partition, chunk.range, valid[0]!.id!, valid[valid.length - 1]!.id!) : undefined,
    }, ctl);
  }

  private async pollLag(): Promise<void> {
    try {
      const lags = await this.source.lag();
      for (const l of lags) this.metrics.lag.set({ topic: l.topic, partition: String(l.partition) }, l.lag);
    } catch (err) {
      this.log.debug({ err }, 'could not read consumer lag');
    }
  }

  async drain(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let left = Infinity;
    while (!this.stopping && !this.failed) {
      left = await this.source.lag().then((lags) => lags.reduce((n, l) => n + l.lag, 0), () => Infinity);
      if (left === 0 && this.inFlight.size === 0 && this.writer.pending === 0) return 0;
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    }
    return left;
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
      await this.writer.idle();
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
