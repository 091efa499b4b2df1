/**
 * The telemetry sink port. The gateway calls {@link TelemetrySink.emit} on the request path and
 * never awaits it; a sink must return at once and must never throw into the caller.
 */
import type { TelemetryEvent } from './event.ts';

/** Counters every sink reports (exported as metrics by the gateway). */
export interface SinkStats {
  /** Events waiting in memory. */
  queued: number;
  /** Events handed to the transport and acknowledged. */
  sent: number;
  /** Events written to the local spill log. */
  spilled: number;
  /** Spilled events later delivered. */
  replayed: number;
  /** Events that could not be kept (spill full); each one counted. */
  dropped: number;
  /** Transport errors seen. */
  errors: number;
}

/** Where the gateway hands its events. */
export interface TelemetrySink {
  /** Accepts one event without blocking. Never throws. */
  emit(event: TelemetryEvent): void;
  /** Resolves when every event emitted so far is delivered or durably spilled. */
  flush(): Promise<void>;
  /** Flushes, then releases resources. */
  close(): Promise<void>;
  /** Current counters. */
  stats(): SinkStats;
}

/** In-memory sink: keeps events in an array. For tests and for callers that read events directly. */
export class MemorySink implements TelemetrySink {
  /** Every event emitted, in order. */
  readonly events: TelemetryEvent[] = [];
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];

  emit(event: TelemetryEvent): void {
    this.events.push(event);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.events.length >= w.n) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Resolves once at least `n` events arrived, or rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.events.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`MemorySink: ${this.events.length}/${n} events after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  stats(): SinkStats {
    return { queued: 0, sent: this.events.length, spilled: 0, replayed: 0, dropped: 0, errors: 0 };
  }
}
