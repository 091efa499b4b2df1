/**
 * The reading side of the local log. Each reader has a name; its committed offset is persisted
 * in `<dir>/<name>.offset` (atomically: temp file, fsync, rename), so a restarted reader
 * continues after the last commit. A commit also deletes the segments that every reader has
 * committed past (never the newest segment, the one a writer may still append to).
 *
 * A reader never returns a partial or corrupt frame. At the end of the newest segment it waits
 * (returns what it has): a frame there may still be being written, or be a crash's torn tail
 * that the next writer will truncate. In an older segment a bad frame can only be damage from
 * outside; the reader skips to the next segment and counts the records lost in `lostRecords`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../core/private-dir.ts';
import { open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TelemetryErrors } from './errors.ts';
import { READER_NAME, READER_SUFFIX, SEGMENT_SUFFIX, decodeFrame, parseOffset, segmentName } from './local-log-format.ts';

const CHUNK = 256 * 1024;

async function segmentsOf(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith(SEGMENT_SUFFIX) && /^\d{20}$/.test(f.slice(0, -SEGMENT_SUFFIX.length)))
    .map((f) => Number(f.slice(0, -SEGMENT_SUFFIX.length)))
    .sort((a, b) => a - b);
}

/** One record read from the log. */
export interface LocalLogRecord {
  /** Dense offset of the record. */
  offset: number;
  /** The bytes appended. */
  value: Buffer;
}

/** Reads the local log in order, from its committed offset. */
export class LocalLogReader {
  /** Records skipped because an older segment was damaged (0 unless files were tampered with). */
  lostRecords = 0;
  private readonly dir: string;
  private readonly name: string;
  private readonly offsetPath: string;
  private committed: number;
  /** Offset of the next record to return. */
  private offset: number;
  private seg: number | undefined;
  private fh: FileHandle | undefined;
  /** Unparsed bytes of the current segment, starting at file position `bufPos`. */
  private buf = Buffer.alloc(0);
  private bufPos = 0;
  /** Records below this offset are skipped after a seek (they were committed already). */
  private committedFloor = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** Opens reader `name` on `dir` (created if missing). */
  constructor(opts: { dir: string; name: string }) {
    if (!opts || typeof opts.dir !== 'string' || !opts.dir) throw TelemetryErrors.badOptions('local log reader: dir is required');
    if (typeof opts.name !== 'string' || !READER_NAME.test(opts.name)) {
      throw TelemetryErrors.badOptions(`local log reader: name must match ${String(READER_NAME)}, got ${JSON.stringify(opts.name)}`);
    }
    this.dir = opts.dir;
    this.name = opts.name;
    mkdirSync(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE }); // the writer tightens an existing one
    this.offsetPath = join(this.dir, `${this.name}${READER_SUFFIX}`);
    let saved: number | undefined;
    try {
      saved = parseOffset(readFileSync(this.offsetPath, 'utf8'));
      if (saved === undefined) throw TelemetryErrors.logIo(`local log reader: ${this.offsetPath} does not hold an offset`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // A new reader starts at the oldest record still on disk (resolved at the first read).
    this.committed = saved ?? 0;
    this.offset = this.committed;
  }

  /** Offset of the next record {@link read} returns. */
  position(): number {
    return this.offset;
  }

  /** The last committed offset (the next record a restarted reader would get). */
  committedOffset(): number {
    return this.committed;
  }

  /**
   * Returns up to `maxRecords` records in offset order; `[]` when nothing new is written.
   * With `maxBytes`, stops before a record that would take the payloads past it (but always
   * returns at least one record when one is there).
   */
  read(maxRecords: number, maxBytes = Infinity): Promise<LocalLogRecord[]> {
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) return Promise.reject(TelemetryErrors.badOptions(`local log reader: maxRecords must be a positive integer, got ${String(maxRecords)}`));
    return this.enqueue(() => this.doRead(maxRecords, maxBytes));
  }

  /**
   * Persists `nextOffset` (the offset after the last record processed) durably, then deletes
   * the segments every reader has committed past.
   */
  commit(nextOffset: number): Promise<void> {
    if (!Number.isSafeInteger(nextOffset) || nextOffset < 0) return Promise.reject(TelemetryErrors.badCommit(`commit: offset must be a non-negative integer, got ${String(nextOffset)}`));
    return this.enqueue(async () => {
      if (nextOffset > this.offset) throw TelemetryErrors.badCommit(`commit(${nextOffset}) is past the read position ${this.offset}`);
      if (nextOffset < this.committed) throw TelemetryErrors.badCommit(`commit(${nextOffset}) is below the committed offset ${this.committed}`);
      const tmp = `${this.offsetPath}.tmp`;
      const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
      try {
        await fh.writeFile(`${nextOffset}\n`);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.offsetPath);
      this.committed = nextOffset;
      await this.prune();
    });
  }

  /** Releases the open segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.fh?.close();
    this.fh = undefined;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(TelemetryErrors.logClosed(`local log reader ${this.name} is closed`));
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async doRead(max: number, maxBytes: number): Promise<LocalLogRecord[]> {
    const out: LocalLogRecord[] = [];
    if (this.seg === undefined && !(await this.seek())) return out;
    let bytes = 0;
    while (out.length < max) {
      const r = decodeFrame(this.buf, 0);
      if (r.kind === 'record' && out.length > 0 && bytes + r.payload.length > maxBytes) break;
      if (this.take(out)) {
        bytes += r.kind === 'record' ? r.payload.length : 0;
        continue;
      }
      // No whole frame buffered: re-read from the frame's start (a torn tail may have been
      // truncated and rewritten meanwhile), then look again.
      const before = this.buf.length;
      await this.refill();
      if (this.progressed(before)) continue;
      // End of readable data in this segment: move on only if a newer segment exists.
      const later = (await segmentsOf(this.dir)).find((b) => b > this.seg!);
      if (later === undefined) break;
      // The writer may have appended after our last read and then rolled: look once more.
      await this.refill();
      if (this.progressed(before)) continue;
      if (this.offset < later) this.lostRecords += later - this.offset;
      await this.openSegment(later);
      this.offset = later;
    }
    return out;
  }

  /** After a refill: true when a whole frame or more bytes of an incomplete one are buffered. */
  private progressed(before: number): boolean {
    const r = decodeFrame(this.buf, 0);
    return r.kind === 'record' || (r.kind === 'incomplete' && this.buf.length > before);
  }

  /** Takes the buffered frame at the read position, if whole and valid. */
  private take(out: LocalLogRecord[]): boolean {
    const r = decodeFrame(this.buf, 0);
    if (r.kind !== 'record') return false;
    const offset = this.offset++;
    this.buf = this.buf.subarray(r.next);
    this.bufPos += r.next;
    if (offset >= this.committedFloor) out.push({ offset, value: r.payload });
    return true;
  }

  /** Positions at the committed offset. False when the log has no segment yet. */
  private async seek(): Promise<boolean> {
    const segs = await segmentsOf(this.dir);
    if (!segs.length) return false;
    let base = segs[0]!;
    for (const b of segs) if (b <= this.committed) base = b;
    await this.openSegment(base);
    this.offset = base;
    this.committedFloor = Math.max(this.committed, base);
    if (this.committed < base) {
      // Older records were deleted before this reader ever committed: start at the oldest kept.
      this.committed = base;
    }
    return true;
  }

  private async openSegment(base: number): Promise<void> {
    await this.fh?.close();
    this.fh = await open(join(this.dir, segmentName(base)), 'r');
    this.seg = base;
    this.buf = Buffer.alloc(0);
    this.bufPos = 0;
  }

  /** Re-reads the current segment from the read position: the unparsed bytes plus what follows. */
  private async refill(): Promise<void> {
    const r = decodeFrame(this.buf, 0);
    const want = Math.max(CHUNK, this.buf.length + 1, r.kind === 'incomplete' ? r.need : 0);
    const chunk = Buffer.allocUnsafe(want);
    const { bytesRead } = await this.fh!.read(chunk, 0, want, this.bufPos);
    this.buf = chunk.subarray(0, bytesRead);
  }

  private async prune(): Promise<void> {
    const names = await readdir(this.dir);
    let min = Infinity;
    for (const f of names) {
      if (!f.endsWith(READER_SUFFIX)) continue;
      const v = f === `${this.name}${READER_SUFFIX}` ? this.committed : parseOffset(await readFile(join(this.dir, f), 'utf8').catch(() => ''));
      if (v !== undefined) min = Math.min(min, v);
    }
    const segs = await segmentsOf(this.dir);
    for (let i = 0; i + 1 < segs.length; i++) {
      if (segs[i + 1]! > min) break;
      await unlink(join(this.dir, segmentName(segs[i]!))).catch(() => undefined);
    }
  }
}
