/**
 * The Kafka sink's spill: a local log (local-log.ts) with one reader, `replay`. Events go in
 * while Kafka is unreachable or slow, and come out in order once it is back; the reader's
 * commit after each delivered batch deletes what was delivered. Whatever is left after a crash
 * or a shutdown is replayed by the next sink on the same directory, before anything else.
 */
import type { LocalLogOptions } from './local-log.ts';
import { LocalLogReader, LocalLogWriter } from './local-log.ts';
import { keyOf, type EncodedEvent } from './queue.ts';

/** Name of the spill's reader. */
export const REPLAY_READER = 'replay';

/** A batch read back from the spill. */
export interface SpillBatch {
  /** The events to send (spill records already delivered by their original send are left out). */
  events: EncodedEvent[];
  /** Offset to commit once they are delivered. */
  nextOffset: number;
}

/** Local spill log with its replay reader. */
export class Spill {
  private readonly writer: LocalLogWriter;
  private readonly reader: LocalLogReader;
  /** Offset ranges written to the spill whose original send succeeded after all (skip on replay). */
  private readonly skips: Array<[number, number]> = [];
  private appendsInFlight = 0;

  /** Opens the spill directory (see {@link LocalLogWriter} for the options). */
  constructor(opts: LocalLogOptions) {
    this.writer = new LocalLogWriter(opts);
    this.reader = new LocalLogReader({ dir: opts.dir, name: REPLAY_READER });
  }

  /** Bytes of a torn tail cut at open (a crash during a spill write). */
  get truncatedBytes(): number {
    return this.writer.truncatedBytes;
  }

  /** Records written but not yet read back. */
  backlog(): number {
    return this.writer.nextOffset - this.reader.position();
  }

  /** Records written but not yet committed as delivered (what a restart would replay). */
  undelivered(): number {
    return this.writer.nextOffset - this.reader.committedOffset();
  }

  /** True while an append is running. */
  appending(): boolean {
    return this.appendsInFlight > 0;
  }

  /** Bytes on disk. */
  sizeBytes(): number {
    return this.writer.sizeBytes();
  }

  /** Appends events; rejects with MLG_TEL_LOG_FULL at the cap (the caller counts them dropped). */
  async append(events: readonly EncodedEvent[]): Promise<{ firstOffset: number; lastOffset: number }> {
    this.appendsInFlight++;
    try {
      return await this.writer.append(events.map((e) => e.value));
    } finally {
      this.appendsInFlight--;
    }
  }

  /** Marks a spilled range as delivered by its original send, so replay skips it. */
  skip(range: { firstOffset: number; lastOffset: number }): void {
    this.skips.push([range.firstOffset, range.lastOffset]);
  }

  /** Reads the next batch to replay; undefined when there is nothing to read. */
  async read(maxEvents: number, maxBytes: number): Promise<SpillBatch | undefined> {
    const records = await this.reader.read(maxEvents, maxBytes);
    if (!records.length) return undefined;
    const events: EncodedEvent[] = [];
    for (const r of records) if (!this.skipped(r.offset)) events.push({ key: keyOf(r.value), value: r.value });
    const last = records[records.length - 1]!.offset;
    return { events, nextOffset: last + 1 };
  }

  /** Commits delivery up to `nextOffset`; when everything is delivered, rolls and frees the disk. */
  async commit(nextOffset: number): Promise<void> {
    await this.reader.commit(nextOffset);
    while (this.skips.length && this.skips[0]![1] < nextOffset) this.skips.shift();
    if (nextOffset === this.writer.nextOffset && !this.appendsInFlight && this.writer.sizeBytes() > 0) {
      await this.writer.roll();
      if (this.writer.nextOffset === nextOffset) await this.reader.commit(nextOffset);
      await this.writer.refreshSize();
    }
  }

  /** Forces spilled data to disk (used by flush under the `interval` and `never` policies). */
  async sync(): Promise<void> {
    await this.writer.sync();
  }

  /** Closes the writer and the reader. */
  async close(): Promise<void> {
    await Promise.allSettled([this.writer.close(), this.reader.close()]);
  }

  private skipped(offset: number): boolean {
    for (const [a, b] of this.skips) if (offset >= a && offset <= b) return true;
    return false;
  }
}
