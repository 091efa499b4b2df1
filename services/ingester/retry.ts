/**
 * Retrying while ClickHouse (or the dead-letter destination) is unavailable: exponential backoff
 * with jitter, the source paused from the first failure until an attempt succeeds again, and
 * waits cut into short slices so the Kafka group membership is kept alive and a shutdown is
 * noticed promptly. Nothing is ever given up except on shutdown.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../core/log.ts';
import { IngesterErrors } from './errors.ts';
import type { IngesterMetrics } from './metrics.ts';
import type { BatchControl } from './source.ts';

const SLICE_MS = 1000;

/** Backoff state for one operation. */
export class Backoff {
  private next: number;
  private readonly max: number;

  constructor(initialMs: number, maxMs: number) {
    this.next = initialMs;
    this.max = Math.max(initialMs, maxMs);
  }

  /** The next delay: uniformly random in [delay/2, delay], delay doubling up to the maximum. */
  delay(): number {
    const d = this.next;
    this.next = Math.min(this.max, this.next * 2);
    return Math.round(d / 2 + Math.random() * (d / 2));
  }

  /** Waits the next delay, heartbeating every second; returns early when `cancelled()`. */
  async wait(ctl: BatchControl, cancelled: () => boolean): Promise<void> {
    let left = this.delay();
    while (left > 0 && !cancelled() && ctl.isRunning()) {
      const step = Math.min(SLICE_MS, left);
      await sleep(step);
      left -= step;
      await ctl.heartbeat();
    }
  }
}

/** What a {@link Retrier} acts on. */
export interface RetrierOptions {
  initialMs: number;
  maxMs: number;
  metrics: IngesterMetrics;
  log: Logger;
  /** Stops the source from fetching more. */
  pause(): void;
  /** Lets it fetch again. */
  resume(): void;
  /** True once retries must stop (shutdown deadline passed). */
  abandoned(): boolean;
}

/** Runs operations until they succeed, pausing the source meanwhile. */
export class Retrier {
  private readonly o: RetrierOptions;
  private pausedNow = false;

  constructor(opts: RetrierOptions) {
    this.o = opts;
  }

  /** True while the source is paused because an operation keeps failing. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** Runs `fn` until it succeeds. @throws MLG_ING_STOPPED when abandoned or `ctl` stops running. */
  async run<T>(what: string, ctl: BatchControl, fn: () => Promise<T>): Promise<T> {
    const backoff = new Backoff(this.o.initialMs, this.o.maxMs);
    let lastLog = 0;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && (this.o.abandoned() || !ctl.isRunning())) throw IngesterErrors.stopped(`stopped while retrying to ${what}`);
      try {
        const result = await fn();
        if (attempt > 0) this.recovered(what, attempt);
        return result;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        this.o.metrics.insertFailures.inc({ code: typeof code === 'string' ? code : 'UNKNOWN' });
        this.o.metrics.retries.inc();
        if (!this.pausedNow) {
          this.pausedNow = true;
          this.o.metrics.paused.set(1);
          this.o.pause();
        }
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          this.o.log.warn({ err, attempt }, `failed to ${what}; consumption paused, retrying`);
        }
      }
      await backoff.wait(ctl, this.o.abandoned);
    }
  }

  private recovered(what: string, attempts: number): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    this.o.metrics.paused.set(0);
    this.o.resume();
    this.o.log.info({ attempts }, `${what} succeeded again; consumption resumed`);
  }
}
