/**
 * The local-log source (embedded mode): tails the telemetry log the gateway appends to
 * (services/telemetry/local-log.ts) as one partition, batching by rows or linger time. Dead
 * letters go to a second local log (`<dir>/../telemetry-dlq` by default) as JSON records that
 * carry the reason, the source offset and the original bytes (base64).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { LocalLogReader, LocalLogWriter } from '../telemetry/local-log.ts';
import { listSegments, scanSegment, segmentName } from '../telemetry/local-log-format.ts';
import { IngesterErrors } from './errors.ts';
import type { BatchHandler, DeadLetter, PartitionLag, Source, SourceMessage } from './source.ts';

/** Options of {@link LocalLogSource}. */
export interface LocalLogSourceOptions {
  /** Directory of the telemetry log. */
  dir: string;
  /** Reader name; its committed offset lives in the log directory. */
  reader: string;
  /** Directory of the dead-letter log. */
  dlqDir: string;
  /** Most records per batch. */
  maxRows: number;
  /** Longest wait to fill a batch. */
  lingerMs: number;
  /** Sleep when the log has nothing new. */
  pollMs: number;
  /**
   * Dead letters older than this (ms) are deleted: they hold whole events, which should not
   * outlive the log they came from (the ingester service passes `telemetry.localLog.maxAgeHours`).
   * Checked when the source starts and every minute while it runs. Absent: kept.
   */
  dlqMaxAgeMs?: number;
  logger?: Logger;
}

/** A source that tails the local telemetry log. */
export class LocalLogSource implements Source {
  readonly kind = 'local' as const;
  /** Name used in tokens, the ledger and `src_topic`. */
  readonly name: string;
  private readonly opts: LocalLogSourceOptions;
  private readonly log: Logger;
  private reader: LocalLogReader;
  private dlq: LocalLogWriter | undefined;
  private running = false;
  private paused = false;
  private loop: Promise<void> | undefined;

  constructor(opts: LocalLogSourceOptions) {
    if (!opts?.dir || !opts.dlqDir) throw IngesterErrors.badOptions('local log source: dir and dlqDir are required');
    if (!(opts.maxRows >= 1 && opts.lingerMs >= 1 && opts.pollMs >= 1)) {
      throw IngesterErrors.badOptions('local log source: maxRows, lingerMs and pollMs must be positive');
    }
    this.opts = opts;
    this.log = opts.logger ?? silentLogger();
    this.name = `local:${opts.reader}`;
    this.reader = new LocalLogReader({ dir: opts.dir, name: opts.reader });
  }

  async start(handler: BatchHandler, onReassign: () => void, onFatal: (err: Error) => void): Promise<void> {
    // With an age bound the dead-letter log is opened now, so old letters expire without new ones.
    if (this.opts.dlqMaxAgeMs !== undefined) this.openDlq();
    this.running = true;
    this.loop = this.run(handler, onReassign).catch((err: unknown) => {
      this.running = false;
      onFatal(IngesterErrors.sourceFailed(`local log source failed: ${(err as Error).message}`, { cause: err }));
    });
  }

  private async run(handler: BatchHandler, onReassign: () => void): Promise<void> {
    const ctl = { heartbeat: async () => {}, isRunning: () => this.running };
    while (this.running) {
      if (this.paused) {
        await sleep(this.opts.pollMs);
        continue;
      }
      const messages = await this.collect();
      if (messages.length === 0) {
        await sleep(this.opts.pollMs);
        continue;
      }
      try {
        await handler({ source: this.name, partition: 0, messages }, ctl);
      } catch (err) {
        if (!IngesterErrors.stopped.is(err)) this.log.warn({ err }, 'batch not stored; rereading from the last commit');
        // Reopen the reader: it resumes at its committed offset.
        await this.reader.close();
        this.reader = new LocalLogReader({ dir: this.opts.dir, name: this.opts.reader });
        onReassign();
      }
    }
  }

  /** Reads until `maxRows` records or `lingerMs` after the first one. */
  private async collect(): Promise<SourceMessage[]> {
    const out: SourceMessage[] = [];
    let deadline = 0;
    while (this.running && out.length < this.opts.maxRows) {
      const recs = await this.reader.read(this.opts.maxRows - out.length);
      for (const r of recs) out.push({ offset: r.offset, value: r.value });
      if (out.length === 0) return out;
      if (deadline === 0) deadline = Date.now() + this.opts.lingerMs;
      if (recs.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(this.opts.pollMs, left));
      }
    }
    return out;
  }

  async commit(_source: string, _partition: number, nextOffset: number): Promise<void> {
    await this.reader.commit(nextOffset);
  }

  async deadLetter(items: readonly DeadLetter[]): Promise<void> {
    if (items.length === 0) return;
    await this.openDlq().append(items.map((d) => Buffer.from(JSON.stringify({
      reason: d.reason, detail: d.detail, source: d.source, partition: d.partition, offset: d.offset, ts: Date.now(),
      value_base64: d.value ? d.value.toString('base64') : null,
    }))));
  }

  /** The dead-letter log, opened once: 0600 files in a 0700 folder (dead letters hold whole events). */
  private openDlq(): LocalLogWriter {
    this.dlq ??= new LocalLogWriter({
      dir: this.opts.dlqDir, logger: this.log, maxAgeMs: this.opts.dlqMaxAgeMs,
      onExpired: (e) => this.log.info({ segments: e.segments, bytes: e.bytes }, 'dead letters older than their age bound deleted'),
    });
    return this.dlq;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  async lag(): Promise<PartitionLag[]> {
    // The log's end is the newest segment's base offset plus its records (the writer may be in
    // another process, so count them on disk; one segment is at most segmentBytes, 16 MiB).
    const segments = listSegments(this.opts.dir);
    const last = segments[segments.length - 1];
    const end = last === undefined ? this.reader.committedOffset() : last + scanSegment(join(this.opts.dir, segmentName(last))).records;
    return [{ topic: this.name, partition: 0, lag: Math.max(0, end - this.reader.committedOffset()) }];
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.reader.close();
    await this.dlq?.close();
  }
}
