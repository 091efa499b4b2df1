/**
 * How finished exchanges reach the telemetry thread (sink-thread.ts) without a message per
 * request: a ring buffer in shared memory, one writer (the request thread) and one reader (the
 * thread).
 *
 * Why not `postMessage`: each call costs the request thread ~4–5 µs whatever its size (a clone
 * and a wake-up of the other thread), and the request thread only ever has one or two finished
 * requests per loop turn to send, so that cost was paid per request. Writing into the ring
 * costs the copy of the bytes and a few atomic stores (0.75 µs for a small JSON exchange); the
 * reader looks at the ring every millisecond while there is traffic, so the writer never wakes it
 * (no system call) except after an idle spell, when the reader parks until woken. The reader
 * counts the records it has finished with in a control word ({@link TAKEN}), so the writer knows
 * what it may forget without a message either.
 *
 * Records are 4-byte aligned: `u32 size | u8 kind | ...`. Kind 1 registers a model profile
 * (prediction paths, redaction options) as JSON, kind 3 carries one whole {@link EventRecord}: its
 * payloads, numbers and strings. (Kind 2, payloads only for a worker that sent the built fields
 * back, is gone: the thread now owns the sink and the event never comes back.) A `size` of
 * {@link WRAP} means "continue at offset 0".
 */
import { wantsTokenEstimate, type EventRecord } from './event-builder.ts';

/** A record's numbers (kind 3), in this order; null (and an absent price) travel as NaN. */
const NUMBERS = ['ts', 'status', 'latency_ms', 'upstream_latency_ms', 'ttfb_ms', 'request_bytes', 'response_bytes', 'ttft_ms', 'itl_mean_ms', 'itl_p95_ms', 'generation_ms'] as const;
/** A record's strings (kind 3), in this order: `u32 length` (UTF-16 units) of each, then `u32 bytes | utf8` of them all joined. */
const STRINGS = ['event_id', 'route', 'model', 'version', 'role', 'rollout_id', 'consumer_id', 'method', 'outcome', 'error_class', 'correlation_id', 'trace_id', 'span_id', 'cache', 'upstream_model'] as const;
/** Bytes of a kind-3 record's numbers: NUMBERS plus the two prices. */
const NUMBER_BYTES = (NUMBERS.length + 2) * 8;
/** Scratch (one thread each) for a record's numbers and string lengths, copied to or from the ring in one go. */
const NUMS = new Float64Array(NUMBERS.length + 2);
const NUMS_BYTES = new Uint8Array(NUMS.buffer);
const LENS = new Uint32Array(STRINGS.length);
const LENS_BYTES = new Uint8Array(LENS.buffer);

/** Model settings the worker needs (prediction paths, redaction options). */
export interface Profile {
  prediction: EventRecord['prediction'];
  redaction: EventRecord['redaction'];
}

/** Control words (Int32Array indexes). */
export const HEAD = 0;
export const TAIL = 1;
/** 1 while the reader is parked and wants a notify for the next record. */
export const PARKED = 2;
/** Event records the reader has finished with, counting from 0 and wrapping at 2^32 (the writer reads it: no message needed). */
export const TAKEN = 3;
const CTRL_WORDS = 4;

const WRAP = 0xffffffff;
const NONE = 0xffffffff;
const KIND_PROFILE = 1;
const KIND_RECORD = 3;
/** Bit of an event's response kind byte: count the tokens the upstream did not report. */
const ESTIMATE_TOKENS = 0x80;
/** size, kind+resKind+profile, reqLen, resLen, reqCT len, resCT len. */
const EVENT_HEADER = 4 + 4 + 4 + 4 + 2 + 2;
/** Content types longer than this are cut (only their family matters to the worker). */
const MAX_CT = 200;
/** Profile numbers fit 16 bits; a gateway reloaded that often builds the rest in the request thread. */
const MAX_PROFILE = 0xffff;

const align = (n: number): number => (n + 3) & ~3;

/** The shared memory of a ring (passed to the worker as workerData). */
export interface RingMemory {
  ctrl: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

/** Allocates a ring of `bytes` (rounded to a multiple of 4). */
export function ringMemory(bytes: number): RingMemory {
  return { ctrl: new SharedArrayBuffer(CTRL_WORDS * 4), data: new SharedArrayBuffer(align(Math.max(4096, bytes))) };
}

/** The writer's side (request thread). */
export class RingWriter {
  private readonly ctrl: Int32Array;
  private readonly buf: Buffer;
  private readonly cap: number;
  /** Model settings already registered (keyed by config object identity). */
  private readonly profiles = new WeakMap<object, number>();
  private profileCount = 0;

  constructor(mem: RingMemory) {
    this.ctrl = new Int32Array(mem.ctrl);
    this.buf = Buffer.from(mem.data);
    this.cap = mem.data.byteLength;
  }

  /** Event records the reader has finished with so far (modulo 2^32). */
  taken(): number {
    return Atomics.load(this.ctrl, TAKEN) >>> 0;
  }

  /** Largest record accepted (bigger payloads are built in the request thread). */
  get maxRecord(): number {
    return this.cap >>> 2;
  }

  /** Numbers a model's settings (by identity of its config objects), registering new ones. -1 when it could not. */
  profileOf(r: Pick<EventRecord, 'prediction' | 'redaction'>): number {
    const key = r.redaction ?? r.prediction;
    if (!key) return 0;
    let n = this.profiles.get(key);
    if (n === undefined) {
      n = this.profileCount + 1;
      if (!this.writeProfile(n, { prediction: r.prediction, redaction: r.redaction })) return -1;
      this.profileCount = n;
      this.profiles.set(key, n);
    }
    return n;
  }

  /** Registers profile `id`. False when the ring has no room now, or `id` is past {@link MAX_PROFILE}. */
  writeProfile(id: number, p: Profile): boolean {
    if (id > MAX_PROFILE) return false;
    const json = JSON.stringify({ id, prediction: p.prediction ?? null, redaction: p.redaction ?? null });
    const len = Buffer.byteLength(json);
    const size = align(12 + len);
    if (size > this.maxRecord) return false;
    const at = this.reserve(size);
    if (at < 0) return false;
    this.buf.writeUInt32LE(KIND_PROFILE, at + 4);
    this.buf.writeUInt32LE(len, at + 8);
    this.buf.write(json, at + 12, len, 'utf8');
    this.commit(at, size);
    return true;
  }

  /** Writes a whole record (kind 3: payloads, numbers, strings). False when the ring has no room now, or the record is larger than {@link maxRecord}. */
  writeRecord(r: EventRecord): boolean {
    const profile = this.profileOf(r);
    return profile >= 0 && this.write(r, profile);
  }

  private write(r: EventRecord, profile: number): boolean {
    const req = r.requestBody;
    const res = r.responseBody ?? r.responseTail;
    const reqCT = cutType(r.requestContentType);
    const resCT = cutType(r.responseContentType);
    const reqLen = req ? req.length : 0;
    const resLen = res ? res.length : 0;
    let size = EVENT_HEADER + reqCT.length + resCT.length + reqLen + resLen;
    let text = '';
    {
      // The strings in STRINGS order (direct reads: a loop over key names is a slow keyed load each).
      const t = [r.event_id, r.route, r.model, r.version, r.role, r.rollout_id, r.consumer_id, r.method, r.outcome, r.error_class, r.correlation_id, r.trace_id, r.span_id, r.cache, r.upstream_model];
      for (let i = 0; i < t.length; i++) { const v = t[i]!; LENS[i] = v.length; text += v; }
      // At most 3 bytes of UTF-8 per UTF-16 unit: room for the text however it encodes.
      size += NUMBER_BYTES + STRINGS.length * 4 + 4 + text.length * 3;
    }
    size = align(size);
    if (size > this.maxRecord) return false;
    const at = this.reserve(size);
    if (at < 0) return false;
    const b = this.buf;
    const resKind = (r.responseBody ? 1 : r.responseTail ? 2 : 0) | (wantsTokenEstimate(r) ? ESTIMATE_TOKENS : 0);
    b.writeUInt32LE((KIND_RECORD | (resKind << 8) | (profile << 16)) >>> 0, at + 4);
    b.writeUInt32LE(req ? reqLen : NONE, at + 8);
    b.writeUInt32LE(res ? resLen : NONE, at + 12);
    b.writeUInt16LE(reqCT.length, at + 16);
    b.writeUInt16LE(resCT.length, at + 18);
    let o = at + EVENT_HEADER;
    if (reqCT) o += b.write(reqCT, o, 'latin1');
    if (resCT) o += b.write(resCT, o, 'latin1');
    if (req) { b.set(req, o); o += reqLen; }
    if (res) { b.set(res, o); o += resLen; }
    {
      // Numbers (null and an absent price as NaN) through an aligned scratch: one copy.
      NUMS[0] = r.ts; NUMS[1] = r.status; NUMS[2] = r.latency_ms; NUMS[3] = r.upstream_latency_ms ?? NaN; NUMS[4] = r.ttfb_ms ?? NaN;
      NUMS[5] = r.request_bytes; NUMS[6] = r.response_bytes; NUMS[7] = r.ttft_ms ?? NaN; NUMS[8] = r.itl_mean_ms ?? NaN;
      NUMS[9] = r.itl_p95_ms ?? NaN; NUMS[10] = r.generation_ms ?? NaN; NUMS[11] = r.price ? r.price.input : NaN; NUMS[12] = r.price ? r.price.output : NaN;
      b.set(NUMS_BYTES, o);
      o += NUMBER_BYTES;
      // The strings' lengths in UTF-16 units, then all of them joined in one UTF-8 write (a native
      // call each would cost more than the copy); the reader cuts them apart by those lengths.
      b.set(LENS_BYTES, o);
      o += LENS_BYTES.length;
      const n = b.write(text, o + 4, 'utf8');
      b.writeUInt32LE(n, o);
      o += 4 + n;
      size = align(o - at);
    }
    this.commit(at, size);
    return true;
  }

  /**
   * Finds `size` contiguous bytes at the head (writing a wrap marker when it must go back to 0).
   * Returns the offset, or -1 when the ring is too full. One byte-gap rule: head never catches
   * up with tail, so head === tail always means empty.
   */
  private reserve(size: number): number {
    const head = Atomics.load(this.ctrl, HEAD);
    const tail = Atomics.load(this.ctrl, TAIL);
    if (head >= tail) {
      if (this.cap - head > size || (this.cap - head === size && tail > 0)) return head;
      if (tail > size) { // wrap: the rest of the ring is skipped
        this.buf.writeUInt32LE(WRAP, head);
        return 0;
      }
      return -1;
    }
    return tail - head > size ? head : -1;
  }

  private commit(at: number, size: number): void {
    const ctrl = this.ctrl;
    this.buf.writeUInt32LE(size, at);
    Atomics.store(ctrl, HEAD, (at + size) % this.cap);
    // Wake the reader only when it parked after an idle spell.
    if (Atomics.load(ctrl, PARKED) === 1 && Atomics.compareExchange(ctrl, PARKED, 1, 0) === 1) Atomics.notify(ctrl, PARKED);
  }
}

function cutType(ct: string | undefined): string {
  if (ct === undefined) return '';
  // latin1 by construction (a header value); the cut keeps the family (application/json, ...).
  return ct.length > MAX_CT ? ct.slice(0, MAX_CT) : ct;
}

/** The reader's side (worker thread). */
export class RingReader {
  readonly ctrl: Int32Array;
  private readonly buf: Buffer;
  private readonly cap: number;
  private readonly profiles = new Map<number, Profile>();

  constructor(mem: RingMemory) {
    this.ctrl = new Int32Array(mem.ctrl);
    this.buf = Buffer.from(mem.data);
    this.cap = mem.data.byteLength;
  }

  /** True when nothing is waiting. */
  empty(): boolean {
    return Atomics.load(this.ctrl, HEAD) === Atomics.load(this.ctrl, TAIL);
  }

  /**
   * Calls `onRecord` for every record waiting, in order (profiles are taken in on the way), at
   * most `max` of them. The payloads point into shared memory and are valid only during the call.
   * Counts each one in {@link TAKEN} once the call returned. Returns how many it read. Throws on a
   * record it cannot read (a bug: the caller's thread fails and the writer's side takes over).
   */
  drain(onRecord: (record: EventRecord) => void, max = Infinity): number {
    const ctrl = this.ctrl;
    const b = this.buf;
    let n = 0;
    let tail = Atomics.load(ctrl, TAIL);
    while (n < max) {
      const head = Atomics.load(ctrl, HEAD);
      if (tail === head) break;
      const size = b.readUInt32LE(tail);
      if (size === WRAP) {
        tail = 0;
        Atomics.store(ctrl, TAIL, 0);
        continue;
      }
      if (size < 8 || (size & 3) !== 0 || tail + size > this.cap) throw new Error(`telemetry ring is corrupt: record of ${size} bytes at ${tail}`);
      const word = b.readUInt32LE(tail + 4);
      const kind = word & 0xff;
      if (kind === KIND_PROFILE) {
        const len = b.readUInt32LE(tail + 8);
        const p = JSON.parse(b.toString('utf8', tail + 12, tail + 12 + len)) as { id: number } & Profile;
        this.profiles.set(p.id, { prediction: p.prediction ?? undefined, redaction: p.redaction ?? undefined });
      } else if (kind === KIND_RECORD) {
        const resKind = (word >>> 8) & 0x7f;
        const profile = this.profiles.get(word >>> 16);
        const reqLen = b.readUInt32LE(tail + 8);
        const resLen = b.readUInt32LE(tail + 12);
        const reqCTLen = b.readUInt16LE(tail + 16);
        const resCTLen = b.readUInt16LE(tail + 18);
        let o = tail + EVENT_HEADER;
        const reqCT = reqCTLen ? b.toString('latin1', o, o + reqCTLen) : undefined;
        o += reqCTLen;
        const resCT = resCTLen ? b.toString('latin1', o, o + resCTLen) : undefined;
        o += resCTLen;
        const req = reqLen === NONE ? null : b.subarray(o, o + reqLen);
        if (req) o += reqLen;
        const res = resLen === NONE ? null : b.subarray(o, o + resLen);
        if (res) o += resLen;
        onRecord(readRecord(b, o, {
          requestBody: req, requestContentType: reqCT, responseBody: resKind === 1 ? res : null, responseTail: resKind === 2 ? res : null,
          responseContentType: resCT, prediction: profile?.prediction, redaction: profile?.redaction,
        }));
        n++;
      } else throw new Error(`telemetry ring is corrupt: record of unknown kind ${kind} at ${tail}`);
      tail = (tail + size) % this.cap;
      Atomics.store(ctrl, TAIL, tail);
      if (kind === KIND_RECORD) Atomics.add(ctrl, TAKEN, 1);
    }
    return n;
  }
}

/** What a kind-3 record carries besides its numbers and strings. */
type Payloads = Pick<EventRecord, 'requestBody' | 'requestContentType' | 'responseBody' | 'responseTail' | 'responseContentType' | 'prediction' | 'redaction'>;

/** The numbers and strings of a kind-3 record from offset `o`, joined with its payloads. */
function readRecord(b: Buffer, o: number, input: Payloads): EventRecord {
  NUMS_BYTES.set(b.subarray(o, o + NUMBER_BYTES));
  o += NUMBER_BYTES;
  LENS_BYTES.set(b.subarray(o, o + LENS_BYTES.length));
  o += LENS_BYTES.length;
  const n = b.readUInt32LE(o);
  const all = b.toString('utf8', o + 4, o + 4 + n);
  let at = 0;
  const cut = (i: number): string => all.slice(at, (at += LENS[i]!));
  const orNull = (v: number): number | null => (Number.isNaN(v) ? null : v);
  const N = NUMS;
  // One object literal in a fixed shape (the builder reads it many times).
  return {
    event_id: cut(0), ts: N[0]!, route: cut(1), model: cut(2), version: cut(3), role: cut(4) as EventRecord['role'], rollout_id: cut(5),
    consumer_id: cut(6), method: cut(7), status: N[1]!, outcome: cut(8) as EventRecord['outcome'], error_class: cut(9), latency_ms: N[2]!,
    upstream_latency_ms: orNull(N[3]!), ttfb_ms: orNull(N[4]!), request_bytes: N[5]!, response_bytes: N[6]!, correlation_id: cut(10),
    trace_id: cut(11), span_id: cut(12), cache: cut(13) as EventRecord['cache'], upstream_model: cut(14), ttft_ms: orNull(N[7]!),
    itl_mean_ms: orNull(N[8]!), itl_p95_ms: orNull(N[9]!), generation_ms: orNull(N[10]!),
    price: Number.isNaN(N[11]!) ? undefined : { input: N[11]!, output: N[12]! },
    requestBody: input.requestBody, requestContentType: input.requestContentType, responseBody: input.responseBody ?? null,
    responseTail: input.responseTail ?? null, responseContentType: input.responseContentType, prediction: input.prediction, redaction: input.redaction,
  };
}
