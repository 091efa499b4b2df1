/**
 * Cheap ids for the hot path. `uuid`'s v7 draws 16 bytes with crypto.getRandomValues on every
 * call, which measured at about 13 µs per request here; these functions take their randomness
 * from one crypto-filled pool (refilled every 4 KiB) instead. Event ids stay UUIDv7 made by
 * `uuid`'s v7 and stay monotonic within a process (a counter within the same millisecond, like
 * uuid's own state).
 */
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL = Buffer.allocUnsafe(4096);
let offset = POOL.length;

function take(bytes: number): number {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return POOL.toString('hex', at, at + bytes);
}

let lastMs = -1;
let seq = 0;

/** A UUIDv7 (time-ordered, monotonic within this process). */
export function eventId(): string {
  const at = take(16);
  const random = POOL.subarray(at, at + 16);
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq });
}
