/**
 * What the Kafka sink and the local-log sink share: the bounded queue behind a non-throwing,
 * non-blocking emit, the counters, flush and close, counted and rate-limited drop logging,
 * and the small wake/wait helpers of their background loops (timers unref'd).
 */
import type { Logger } from '../core/log.ts';
import type { TelemetryEvent } from './event.ts';
import type { LocalLogExpiry } from './local-log-writer.ts';
import type { SendObserver } from './metrics.ts';
import { EventQueue, encodeEvent } from './queue.ts';
import type { SinkStats } from './sink.ts';

const DROP_LOG_EVERY_MS = 5000;

/** Base of the real sinks. Subclasses move events from {@link queue} to their transport. */
export abstract class SinkBase {
  protected readonly log: Logger;
  protected readonly queue = new EventQueue();
  protected readonly counters = { sent: 0, spilled: 0, replayed: 0, dropped: 0, errors: 0 };
  protected readonly metrics: SendObserver | undefined;
  /** > 0 while a flush waits: loops skip their linger. */
  protected flushing = 0;
  /** True once close() has flushed: loops stop. */
  protected closedForGood = false;
  private readonly maxQueued: number;
  private closing: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private waiters: Array<() => void> = [];
  private dropsUnlogged = 0;
  private lastDropLog = 0;
  private expiredEvents = 0;

  constructor(logger: Logger, component: string, maxQueued: number, metrics: SendObserver | undefined) {
    this.log = logger.child({ component });
    this.maxQueued = maxQueued;
    this.metrics = metrics;
  }

  /** Queues one event. Never throws, never waits; a full queue or a closed sink counts it dropped. */
  emit(event: TelemetryEvent): void {
    try {
      if (this.closing) return this.drop(1, 'sink is closed');
      if (this.queue.length >= this.maxQueued) return this.drop(1, 'queue full');
      this.queue.push(encodeEvent(event));
      this.onEnqueue();
    } catch (err) {
      this.counters.errors++;
      this.drop(1, 'event could not be queued', err);
    }
  }

  /** Current counters. */
  stats(): SinkStats {
    return { queued: this.queued(), ...this.counters };
  }

  /** Resolves once every event emitted so far is delivered or durably written to disk. */
  flush(): Promise<void> {
    return this.heldOpen(async () => {
      this.flushing++;
      try {
        this.onEnqueue();
        this.wake();
        while (!this.settled()) await this.nextChange(100);
        await this.afterFlush();
      } finally {
        this.flushing--;
      }
    });
  }

  /** Flushes, stops the background work and releases the transport and files. */
  close(): Promise<void> {
    this.closing ??= this.heldOpen(async () => {
      try {
        await this.flush();
      } finally {
        this.closedForGood = true;
        this.wake();
        await this.shutdown();
      }
    });
    return this.closing;
  }

  /**
   * Runs `work` with the process held open. The background loops' timers are unref'd so an idle
   * sink never keeps a process alive; a caller awaiting flush or close (graceful shutdown) must be
   * kept alive until its events are safe and the transport and files are released.
   */
  private async heldOpen(work: () => Promise<void>): Promise<void> {
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await work();
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Events waiting in memory. */
  protected queued(): number {
    return this.queue.length;
  }

  /** Called after each enqueue (and at flush): start or wake the transport. */
  protected abstract onEnqueue(): void;
  /** True when nothing emitted is still only in memory. */
  protected abstract settled(): boolean;
  /** Extra durability step at the end of a flush. */
  protected abstract afterFlush(): Promise<void>;
  /** Releases resources (after the final flush). */
  protected abstract shutdown(): Promise<void>;

  /**
   * Events deleted from the disk (spill or local log) unread because they were older than its
   * `maxAgeHours` (counted as `expired`, not `dropped`: they were kept, for as long as allowed).
   */
  expired(): number {
    return this.expiredEvents;
  }

  /** Counts and logs what an expiry of the spill or the local log deleted. */
  protected expiredOnDisk(where: string, e: LocalLogExpiry): void {
    this.expiredEvents += e.records;
    this.log.warn({ where, segments: e.segments, events: e.records, bytes: e.bytes, newest: new Date(e.newestMs).toISOString(), expiredTotal: this.expiredEvents },
      `${where} segments older than maxAgeHours deleted${e.records ? ' with events not yet delivered' : ''}`);
  }

  /** Counts `n` events as dropped and logs it (at most every few seconds, with the count). */
  protected drop(n: number, reason: string, err?: unknown): void {
    this.counters.dropped += n;
    this.dropsUnlogged += n;
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_EVERY_MS) {
      this.log.error({ dropped: this.dropsUnlogged, droppedTotal: this.counters.dropped, reason, ...(err ? { err } : {}) }, 'telemetry events dropped');
      this.dropsUnlogged = 0;
      this.lastDropLog = now;
    }
  }

  /** Wakes the background loop waiting in {@link nextWake}. */
  protected wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Resolves on the next {@link wake} or after `ms`. */
  protected nextWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      const prev = this.wakeUp;
      this.wakeUp = () => { prev?.(); done(); };
      function done(): void {
        clearTimeout(t);
        resolve();
      }
    });
  }

  /** Signals a state change to flush waiters. */
  protected changed(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves on the next {@link changed} or after `ms`. */
  protected nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /** A plain unref'd delay (linger). */
  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }
}
