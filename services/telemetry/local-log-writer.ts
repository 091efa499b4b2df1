/**
 * The writing side of the local log (see local-log-format.ts for the files). One writer per
 * directory at a time, guarded by a lock file holding its pid (a dead pid's lock is taken over,
 * so a crashed gateway restarts cleanly). At start the writer truncates a torn final record left
 * by a crash, then appends after the last valid one; offsets continue where they stopped.
 * The records are events (redacted, but still private): the folder is 0700 and every file 0600,
 * and looser modes found at start are tightened (and logged).
 *
 * With `maxAgeMs`, data does not live on disk longer than that, consumed or not: a segment whose
 * newest record was written more than `maxAgeMs` ago (its file's modification time) is deleted,
 * at open, after each segment roll and every `expiryCheckMs`; the current segment is rolled first.
 * The records no reader had committed past are reported to `onExpired` (the sinks count them
 * `expired`). A reader already reading inside such a segment may still finish it (its open file
 * stays readable); a reader behind it continues at the next segment kept.
 */
import { closeSync, fdatasync as fdatasyncCb, fdatasyncSync, ftruncate as ftruncateCb, openSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, write as writeCb, writeFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../core/log.ts';
import { PRIVATE_FILE_MODE, ensurePrivateDir, logPrivateDir } from '../core/private-dir.ts';
import { TelemetryErrors } from './errors.ts';
import { LOCK_FILE, MAX_RECORD_BYTES, SEGMENT_SUFFIX, encodeFrames, listSegments, readCommits, scanSegment, segmentName } from './local-log-format.ts';

const write = promisify(writeCb);
const fdatasync = promisify(fdatasyncCb);
const ftruncate = promisify(ftruncateCb);

/** When the writer forces data to disk. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

/** Options of a local log. */
export interface LocalLogOptions {
  /** Directory of the log (created if missing). */
  dir: string;
  /** A segment is closed and a new one started once it would pass this size. Default 16 MiB. */
  segmentBytes?: number;
  /** Cap on the bytes of all segments; an append past it fails with MLG_TEL_LOG_FULL. Default 1 GiB. */
  maxBytes?: number;
  /** `always`: fdatasync after every append (survives power loss); `interval`: every
   * `fsyncIntervalMs` (survives a process crash at once, power loss after the interval);
   * `never`: leave it to the OS. Default `interval`. */
  fsync?: FsyncPolicy;
  /** Period of the `interval` policy. Default 200 ms. */
  fsyncIntervalMs?: number;
  /** Where a folder or file mode tightened at start is reported. */
  logger?: Logger | undefined;
  /** Longest time a record stays on disk (from its write), consumed or not; absent = no bound. */
  maxAgeMs?: number | undefined;
  /** How often segments are checked against `maxAgeMs` besides open and each roll. Default 60 s. */
  expiryCheckMs?: number | undefined;
  /** Wall clock (ms) the age is measured with. Default `Date.now`. */
  now?: (() => number) | undefined;
  /** Told what each expiry deleted (called during construction too). */
  onExpired?: ((e: LocalLogExpiry) => void) | undefined;
}

/** What one expiry pass deleted. */
export interface LocalLogExpiry {
  /** Segment files deleted. */
  segments: number;
  /** Records in them that some reader had not committed past (lost to that reader). */
  records: number;
  /** Bytes freed. */
  bytes: number;
  /** Modification time (ms) of the newest segment deleted. */
  newestMs: number;
}

/** Defaults of {@link LocalLogOptions}. */
export const LOCAL_LOG_DEFAULTS = Object.freeze({
  segmentBytes: 16 * 1024 * 1024,
  maxBytes: 1024 * 1024 * 1024,
  fsync: 'interval' as FsyncPolicy,
  fsyncIntervalMs: 200,
});

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw TelemetryErrors.badOptions(`local log: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Appends records to the local log. */
export class LocalLogWriter {
  /** Bytes of a torn or corrupt tail removed at start (0 after a clean shutdown). */
  readonly truncatedBytes: number;
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly fsync: FsyncPolicy;
  private readonly sizes = new Map<number, number>();
  private fd: number;
  private segBase: number;
  private segBytes: number;
  private next: number;
  private chain: Promise<unknown> = Promise.resolve();
  private dirty = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly expiryTimer: NodeJS.Timeout | undefined;
  private readonly maxAgeMs: number | undefined;
  private readonly now: () => number;
  private readonly onExpired: ((e: LocalLogExpiry) => void) | undefined;

  /** Opens (or creates) the log; throws MLG_TEL_LOG_LOCKED when another live writer holds it. */
  constructor(opts: LocalLogOptions) {
    if (!opts || typeof opts.dir !== 'string' || !opts.dir) throw TelemetryErrors.badOptions('local log: dir is required');
    this.dir = opts.dir;
    this.segmentBytes = checkInt('segmentBytes', opts.segmentBytes ?? LOCAL_LOG_DEFAULTS.segmentBytes, 1024);
    this.maxBytes = checkInt('maxBytes', opts.maxBytes ?? LOCAL_LOG_DEFAULTS.maxBytes, 1024);
    this.fsync = opts.fsync ?? LOCAL_LOG_DEFAULTS.fsync;
    if (!['always', 'interval', 'never'].includes(this.fsync)) throw TelemetryErrors.badOptions(`local log: fsync must be always|interval|never, got ${String(this.fsync)}`);
    const interval = checkInt('fsyncIntervalMs', opts.fsyncIntervalMs ?? LOCAL_LOG_DEFAULTS.fsyncIntervalMs, 1);
    this.maxAgeMs = opts.maxAgeMs === undefined ? undefined : checkInt('maxAgeMs', opts.maxAgeMs, 1);
    const expiryCheckMs = checkInt('expiryCheckMs', opts.expiryCheckMs ?? 60_000, 1);
    this.now = opts.now ?? Date.now;
    this.onExpired = opts.onExpired;
    try {
      logPrivateDir(opts.logger, 'local log', ensurePrivateDir(this.dir, { files: true }));
    } catch (cause) {
      throw TelemetryErrors.logIo(`local log: cannot create ${this.dir}: ${(cause as Error).message}`, { cause });
    }
    this.takeLock();
    const segs = listSegments(this.dir);
    for (const base of segs.slice(0, -1)) this.sizes.set(base, statSync(join(this.dir, segmentName(base))).size);
    let truncated = 0;
    let lastEnd = 0;
    let lastBase: number | undefined = segs[segs.length - 1];
    let lastBytes = 0;
    if (lastBase !== undefined) {
      const path = join(this.dir, segmentName(lastBase));
      const scan = scanSegment(path);
      if (scan.validBytes < scan.fileBytes) {
        truncateSync(path, scan.validBytes);
        truncated = scan.fileBytes - scan.validBytes;
      }
      lastEnd = lastBase + scan.records;
      lastBytes = scan.validBytes;
    }
    // Readers may have committed past the last segment (if someone deleted files): never reuse an offset.
    const start = Math.max(lastEnd, ...readCommits(this.dir).values());
    if (lastBase !== undefined && start > lastEnd) {
      if (lastBytes === 0) unlinkSync(join(this.dir, segmentName(lastBase)));
      else this.sizes.set(lastBase, lastBytes);
      lastBase = undefined;
    }
    this.truncatedBytes = truncated;
    this.next = start;
    this.segBase = lastBase ?? start;
    this.segBytes = lastBase === undefined ? 0 : lastBytes;
    this.fd = openSync(join(this.dir, segmentName(this.segBase)), 'a', PRIVATE_FILE_MODE);
    this.sizes.set(this.segBase, this.segBytes);
    if (this.fsync === 'interval') {
      this.timer = setInterval(() => { this.enqueue(() => this.syncIfDirty()).catch(() => { /* retried next tick */ }); }, interval);
      this.timer.unref();
    }
    if (this.maxAgeMs !== undefined) {
      this.expire();
      this.expiryTimer = setInterval(() => { this.enqueue(async () => this.expire()).catch(() => { /* tried again next time */ }); }, expiryCheckMs);
      this.expiryTimer.unref();
    }
  }

  /** Deletes the segments older than `maxAgeMs` now (it also happens at open, each roll and every `expiryCheckMs`). */
  expireNow(): Promise<LocalLogExpiry | undefined> {
    if (this.closed) return Promise.reject(TelemetryErrors.logClosed('local log writer is closed'));
    return this.enqueue(async () => this.expire());
  }

  /** Offset the next appended record will get. */
  get nextOffset(): number {
    return this.next;
  }

  /** Bytes of all segments on disk (as last seen; readers in other processes may have deleted some since). */
  sizeBytes(): number {
    let n = 0;
    for (const v of this.sizes.values()) n += v;
    return n;
  }

  /**
   * Appends records in order, all or none. Resolves with their offsets once written (and
   * fsynced under the `always` policy). Rejects with MLG_TEL_LOG_FULL past the size cap.
   */
  append(records: Buffer[]): Promise<{ firstOffset: number; lastOffset: number }> {
    if (this.closed) return Promise.reject(TelemetryErrors.logClosed('local log writer is closed'));
    for (const r of records) {
      if (r.length > MAX_RECORD_BYTES) return Promise.reject(TelemetryErrors.recordTooLarge(`record of ${r.length} bytes exceeds ${MAX_RECORD_BYTES}`));
    }
    const frames = encodeFrames(records);
    return this.enqueue(() => this.doAppend(frames, records.length));
  }

  /** Closes the current segment and starts a new one (so readers can delete the old one). */
  roll(): Promise<void> {
    return this.enqueue(async () => { if (this.segBytes > 0) await this.rollNow(); });
  }

  /** Forces everything appended so far to disk, whatever the fsync policy. */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(TelemetryErrors.logClosed('local log writer is closed'));
    return this.enqueue(async () => {
      this.dirty = false;
      await fdatasync(this.fd);
    });
  }

  /** Re-reads segment sizes from disk (after readers deleted consumed segments). */
  refreshSize(): Promise<void> {
    return this.enqueue(() => this.refreshSizes());
  }

  /** Waits for pending appends, syncs, releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    await this.chain;
    try {
      if (this.fsync !== 'never') await fdatasync(this.fd);
    } finally {
      closeSync(this.fd);
      rmSync(join(this.dir, LOCK_FILE), { force: true });
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async doAppend(frames: Buffer, n: number): Promise<{ firstOffset: number; lastOffset: number }> {
    if (n === 0) return { firstOffset: this.next, lastOffset: this.next - 1 };
    if (this.segBytes > 0 && this.segBytes + frames.length > this.segmentBytes) await this.rollNow();
    if (this.sizeBytes() + frames.length > this.maxBytes) {
      await this.refreshSizes();
      if (this.sizeBytes() + frames.length > this.maxBytes) {
        throw TelemetryErrors.logFull(`local log ${this.dir} is full (${this.sizeBytes()} of ${this.maxBytes} bytes)`, { details: { maxBytes: this.maxBytes } });
      }
    }
    const before = this.segBytes;
    try {
      let done = 0;
      while (done < frames.length) {
        const { bytesWritten } = await write(this.fd, frames, done, frames.length - done);
        done += bytesWritten;
      }
    } catch (cause) {
      // Never leave half a frame behind for the next append to follow.
      await ftruncate(this.fd, before).catch(() => undefined);
      throw TelemetryErrors.logIo(`local log append failed: ${(cause as Error).message}`, { cause });
    }
    this.segBytes += frames.length;
    this.sizes.set(this.segBase, this.segBytes);
    const firstOffset = this.next;
    this.next += n;
    if (this.fsync === 'always') await fdatasync(this.fd);
    else this.dirty = true;
    return { firstOffset, lastOffset: this.next - 1 };
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    await fdatasync(this.fd);
  }

  private async rollNow(): Promise<void> {
    if (this.fsync !== 'never') await fdatasync(this.fd);
    this.openNextSegment();
    this.expire();
  }

  private openNextSegment(): void {
    closeSync(this.fd);
    this.segBase = this.next;
    this.segBytes = 0;
    this.fd = openSync(join(this.dir, segmentName(this.segBase)), 'a', PRIVATE_FILE_MODE);
    this.sizes.set(this.segBase, 0);
    this.dirty = false;
  }

  /**
   * Deletes every segment whose newest record (its modification time) is older than `maxAgeMs`,
   * rolling the current one first when it is that old. Synchronous: a directory listing and a
   * stat per segment. Runs at open and inside the append chain.
   */
  private expire(): LocalLogExpiry | undefined {
    if (this.maxAgeMs === undefined || this.closed) return undefined;
    const bound = this.now() - this.maxAgeMs;
    const segs = listSegments(this.dir);
    const out: LocalLogExpiry = { segments: 0, records: 0, bytes: 0, newestMs: -Infinity };
    let consumed: number | undefined;
    for (let i = 0; i < segs.length; i++) {
      const base = segs[i]!;
      const path = join(this.dir, segmentName(base));
      let mtimeMs: number;
      let size: number;
      try {
        ({ mtimeMs, size } = statSync(path));
      } catch {
        continue; // a reader pruned it meanwhile
      }
      if (mtimeMs > bound) continue;
      const end = i + 1 < segs.length ? segs[i + 1]! : this.next;
      if (base === this.segBase) {
        if (this.segBytes === 0) continue;
        if (this.fsync !== 'never') fdatasyncSync(this.fd);
        this.openNextSegment();
      }
      try {
        unlinkSync(path);
      } catch {
        continue;
      }
      this.sizes.delete(base);
      // Records some reader has not committed past (no reader yet: none consumed).
      if (consumed === undefined) {
        const commits = [...readCommits(this.dir).values()];
        consumed = commits.length ? Math.min(...commits) : 0;
      }
      out.segments++;
      out.records += Math.max(0, end - Math.max(base, consumed));
      out.bytes += size;
      out.newestMs = Math.max(out.newestMs, mtimeMs);
    }
    if (!out.segments) return undefined;
    this.onExpired?.(out);
    return out;
  }

  private async refreshSizes(): Promise<void> {
    const names = (await readdir(this.dir)).filter((f) => f.endsWith(SEGMENT_SUFFIX));
    this.sizes.clear();
    for (const f of names) {
      const base = Number(f.slice(0, -SEGMENT_SUFFIX.length));
      if (!Number.isSafeInteger(base)) continue;
      try {
        this.sizes.set(base, (await stat(join(this.dir, f))).size);
      } catch { /* deleted meanwhile */ }
    }
    this.sizes.set(this.segBase, this.segBytes);
  }

  private takeLock(): void {
    const path = join(this.dir, LOCK_FILE);
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx', mode: PRIVATE_FILE_MODE });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw TelemetryErrors.logIo(`local log: cannot lock ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    const holder = Number(readFileSync(path, 'utf8').trim());
    if (Number.isSafeInteger(holder) && holder > 0 && pidAlive(holder)) {
      throw TelemetryErrors.logLocked(`local log ${this.dir} is held by a live writer (pid ${holder})`);
    }
    writeFileSync(path, String(process.pid), { mode: PRIVATE_FILE_MODE });
  }
}

/**
 * Removes `dir`'s writer lock when this process holds it. Only for a writer that can no longer
 * release it itself: one in a worker thread that died (the lock names the process, and a live
 * pid is never taken over). The caller must know no writer of this process still uses `dir`.
 */
export function releaseLockOfDeadThread(dir: string): void {
  const path = join(dir, LOCK_FILE);
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
  } catch { /* no lock: nothing to release */ }
}
