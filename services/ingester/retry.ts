/**
 * Exponential backoff with full jitter, for retries while ClickHouse (or the dead-letter
 * destination) is unavailable. The wait is cut into short slices so the Kafka group membership is
 * kept alive (heartbeat) and a shutdown is noticed promptly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
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
