/**
 * On-disk format of the local log, shared by its writer and readers.
 *
 * A log is a directory of segment files named by the offset of their first record
 * (`00000000000000000042.seg`), plus one `<reader>.offset` file per reader and a `writer.lock`.
 * A segment is a sequence of frames: `u32be length`, `u32be crc32(length bytes ‖ payload)`,
 * payload. The checksum covers the length too, so a zero-filled or half-written tail (what a
 * crash leaves) never parses as a record.
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** Bytes of a frame header. */
export const HEADER_BYTES = 8;
/** Largest payload a frame may carry (a longer length field is treated as corruption). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Suffix of segment files. */
export const SEGMENT_SUFFIX = '.seg';
/** Suffix of reader offset files. */
export const READER_SUFFIX = '.offset';
/** Name of the writer's lock file. */
export const LOCK_FILE = 'writer.lock';
/** Reader names: safe as file names. */
export const READER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** File name of the segment whose first record has offset `base`. */
export function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** Base offsets of the segments in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(SEGMENT_SUFFIX) && /^\d{20}$/.test(f.slice(0, -SEGMENT_SUFFIX.length)))
    .map((f) => Number(f.slice(0, -SEGMENT_SUFFIX.length)))
    .sort((a, b) => a - b);
}

/** Committed offsets of every reader that has committed in `dir`, by reader name. */
export function readCommits(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(READER_SUFFIX)) continue;
    const v = parseOffset(readFileSync(join(dir, f), 'utf8'));
    if (v !== undefined) out.set(f.slice(0, -READER_SUFFIX.length), v);
  }
  return out;
}

/** Parses an offset file's text; undefined when it is not a non-negative integer. */
export function parseOffset(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d{1,16}$/.test(t)) return undefined;
  return Number(t);
}

function checksum(header: Buffer, payload: Buffer): number {
  return crc32(payload, crc32(header.subarray(0, 4)));
}

/** Frames records into one buffer ready to append. */
export function encodeFrames(records: readonly Buffer[]): Buffer {
  let total = 0;
  for (const r of records) total += HEADER_BYTES + r.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const r of records) {
    out.writeUInt32BE(r.length, at);
    out.writeUInt32BE(checksum(out.subarray(at, at + 4), r), at + 4);
    r.copy(out, at + HEADER_BYTES);
    at += HEADER_BYTES + r.length;
  }
  return out;
}

/** Outcome of decoding the frame at `at` in `buf`. */
export type FrameResult =
  | { kind: 'record'; payload: Buffer; next: number }
  | { kind: 'incomplete'; need: number }
  | { kind: 'corrupt' };

/** Decodes one frame. `incomplete` means more bytes are needed (`need` in total from `at`). */
export function decodeFrame(buf: Buffer, at: number): FrameResult {
  if (buf.length - at < HEADER_BYTES) return { kind: 'incomplete', need: HEADER_BYTES };
  const len = buf.readUInt32BE(at);
  if (len > MAX_RECORD_BYTES) return { kind: 'corrupt' };
  if (buf.length - at < HEADER_BYTES + len) return { kind: 'incomplete', need: HEADER_BYTES + len };
  const payload = buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len);
  if (checksum(buf.subarray(at, at + 4), payload) !== buf.readUInt32BE(at + 4)) return { kind: 'corrupt' };
  return { kind: 'record', payload, next: at + HEADER_BYTES + len };
}

/** Result of scanning a whole segment. */
export interface SegmentScan {
  /** Valid records from the start. */
  records: number;
  /** Byte length of the valid prefix. */
  validBytes: number;
  /** Byte length of the file. */
  fileBytes: number;
}

/**
 * Scans a segment synchronously (used at writer start-up): counts the records of its valid
 * prefix and finds where a torn or corrupt tail begins. Reads in 1 MiB chunks.
 */
export function scanSegment(path: string): SegmentScan {
  const fd = openSync(path, 'r');
  try {
    let pos = 0;
    let records = 0;
    let buf = Buffer.alloc(0);
    let bufStart = 0;
    let eof = false;
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const r = decodeFrame(buf, pos - bufStart);
      if (r.kind === 'record') {
        records++;
        pos = bufStart + r.next;
        continue;
      }
      if (r.kind === 'corrupt' || eof) break;
      const n = readSync(fd, chunk, 0, chunk.length, bufStart + buf.length);
      if (n === 0) eof = true;
      buf = Buffer.concat([buf.subarray(pos - bufStart), chunk.subarray(0, n)]);
      bufStart = pos;
    }
    return { records, validBytes: pos, fileBytes: fstatSync(fd).size };
  } finally {
    closeSync(fd);
  }
}
