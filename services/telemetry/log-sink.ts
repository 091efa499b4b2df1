/**
 * The embedded mode's sink: events are appended to the local log (local-log.ts), which the
 * ingester in the same process (or another) tails with a {@link LocalLogReader} instead of a
 * Kafka consumer. "Sent" here means appended to the log. Past the log's size cap (readers too
 * far behind) each further event is counted as dropped and logged. Past the log's `maxAgeMs`
 * (readers stopped for that long) its old segments are deleted and their events counted expired.
 */
import type { Logger } from '../core/log.ts';
import { TelemetryErrors } from './errors.ts';
import { LocalLogWriter, type LocalLogOptions } from './local-log.ts';
import type { SendObserver } from './metrics.ts';
import { SinkBase } from './sink-base.ts';
import type { TelemetrySink } from './sink.ts';

/** Options of {@link LocalLogSink}. */
export interface LocalLogSinkOptions {
  log: LocalLogOptions;
  queue: { maxEvents: number };
  batch: { maxEvents: number; maxBytes: number; lingerMs: number };
  logger: Logger;
  metrics?: SendObserver | undefined;
}

/** Sink that appends events to the local log. */
export class LocalLogSink extends SinkBase implements TelemetrySink {
  private readonly opts: LocalLogSinkOptions;
  private readonly writer: LocalLogWriter;
  private pumping = false;

  /** Opens the log directory (throws MLG_TEL_LOG_LOCKED if another live process writes it). */
  constructor(opts: LocalLogSinkOptions) {
    super(opts.logger, 'telemetry-log', opts.queue.maxEvents, opts.metrics);
    if (!(opts.batch.maxEvents >= 1 && opts.batch.maxBytes >= 1024 && opts.batch.lingerMs >= 0)) throw TelemetryErrors.badOptions('local log sink: batch needs maxEvents >= 1, maxBytes >= 1024, lingerMs >= 0');
    this.opts = opts;
    this.writer = new LocalLogWriter({ ...opts.log, onExpired: (e) => this.expiredOnDisk('local log', e) });
    if (this.writer.truncatedBytes) this.log.warn({ bytes: this.writer.truncatedBytes }, 'cut a torn record at the end of the local log (crash during a write)');
  }

  /** Offset the next event will get in the log. */
  nextOffset(): number {
    return this.writer.nextOffset;
  }

  protected override onEnqueue(): void {
    if (this.pumping || this.closedForGood) return;
    this.pumping = true;
    void this.pump();
  }

  protected override settled(): boolean {
    return this.queue.length === 0 && !this.pumping;
  }

  protected override async afterFlush(): Promise<void> {
    await this.writer.sync().catch((err: unknown) => this.log.error({ err }, 'local log sync failed'));
  }

  protected override async shutdown(): Promise<void> {
    await this.writer.close();
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const wait = this.opts.batch.lingerMs - (Date.now() - this.queue.oldestAt);
        if (this.queue.length < this.opts.batch.maxEvents && wait > 0 && !this.flushing) await this.sleep(wait);
        const events = this.queue.take(this.opts.batch.maxEvents, this.opts.batch.maxBytes);
        const t0 = process.hrtime.bigint();
        try {
          await this.writer.append(events.map((e) => e.value));
          this.counters.sent += events.length;
          this.metrics?.observeSend(Number(process.hrtime.bigint() - t0) / 1e9);
        } catch (err) {
          const full = TelemetryErrors.logFull.is(err);
          if (!full) this.counters.errors++;
          this.drop(events.length, full ? 'local log full (is the ingester running?)' : 'local log write failed', err);
        }
        this.changed();
      }
    } catch (err) {
      this.log.error({ err }, 'local log sink pump failed');
    } finally {
      this.pumping = false;
      this.changed();
    }
  }
}
