/**
 * Token timing of an OpenAI-style SSE stream, measured where the relay sees the upstream's
 * chunks: when the first chunk carrying output arrived (time to first token), the gaps between
 * successive such chunks (inter-token latency: running sum, and p95 from a fixed histogram), and
 * when the last one arrived (the generation time that the output rate divides by).
 *
 * A chunk "carries output" when one of its JSON members `content` or `text` is a non-empty
 * string, or `tool_calls` is a non-empty array, or `function_call` a non-empty object: the role
 * chunk (`"delta":{"role":"assistant","content":""}`), `finish_reason` chunks, the usage chunk
 * and `[DONE]` do not. It is stamped with the time the chunk that ended its SSE event (the blank
 * line) arrived, i.e. when a client's SSE parser can act on it. Several output events in one
 * network read are several tokens arriving at once (gaps of 0), as the client sees them.
 *
 * Cost: one pass over the bytes with a small state machine (a JSON string and escape state, a
 * match of the key being read against the four names, which its first byte narrows to one),
 * with a tight loop over the bytes that cannot matter: no allocation per chunk, no decoding, no
 * JSON parsing. The p95 histogram ({@link GapHistogram}) is allocated once per stream, when
 * the second output event arrives.
 */

/** Member names whose non-empty value makes a chunk an output chunk. */
const KEYS = ['content', 'text', 'tool_calls', 'function_call'].map((k) => Buffer.from(k));
const CONTENT = 0;
const TEXT = 1;
const TOOL_CALLS = 2;
const FUNCTION_CALL = 3;
/** `cand` of a string whose first byte is still to come (-1: not a name we look for). */
const UNSEEN = -2;

// Scanner states.
const S_OUT = 0; // outside any string
const S_STR = 1; // inside a string (a candidate name while `cand` is not -1)
const S_KEY = 2; // a matched key closed; waiting for its ':'
const S_VAL = 3; // after the ':', waiting for the value's first character
const S_STR_FIRST = 4; // the value is a string: its first character decides
const S_ARR_FIRST = 5; // the value is an array or object: its first element decides

const QUOTE = 34;
const BACKSLASH = 92;
const LF = 10;
const CR = 13;

const isWs = (c: number): boolean => c === 32 || c === 9 || c === CR;

/**
 * Gap histogram for the p95 inter-token latency: log-spaced buckets 5% wide from 0.05 ms to
 * about 2 minutes (302 buckets, 1.2 KiB, fixed). Chosen over a reservoir because it is
 * deterministic (the same stream gives the same p95) and bounded whatever the stream's length,
 * with a relative error of at most ±2.5% (a bucket's geometric middle is reported, clamped to the
 * smallest and largest gap seen, so a stream of equal gaps reads exactly that gap).
 */
export class GapHistogram {
  static readonly MIN_MS = 0.05;
  static readonly GROWTH = 1.05;
  static readonly BUCKETS = 302;
  private static readonly LOG_GROWTH = Math.log(GapHistogram.GROWTH);
  private readonly counts = new Uint32Array(GapHistogram.BUCKETS);
  n = 0;
  min = Infinity;
  max = 0;

  /** Adds one gap (ms). */
  add(ms: number): void {
    this.n++;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    this.counts[GapHistogram.bucket(ms)]!++;
  }

  /** Bucket of `ms`: 0 holds [0, MIN_MS), bucket i ≥ 1 holds [MIN_MS·G^(i-1), MIN_MS·G^i). */
  static bucket(ms: number): number {
    if (!(ms >= GapHistogram.MIN_MS)) return 0;
    const i = 1 + Math.floor(Math.log(ms / GapHistogram.MIN_MS) / GapHistogram.LOG_GROWTH);
    return i < GapHistogram.BUCKETS ? i : GapHistogram.BUCKETS - 1;
  }

  /** The nearest-rank quantile `q` (0 < q ≤ 1), or null when empty. */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    if (rank === this.n) return this.max;
    let seen = 0;
    for (let i = 0; i < GapHistogram.BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = i === 0 ? GapHistogram.MIN_MS / 2 : GapHistogram.MIN_MS * GapHistogram.GROWTH ** (i - 0.5);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }
}

/** Token timing of one stream. Feed it the upstream's chunks in order with their arrival times. */
export class TokenTimer {
  /** Output events seen. */
  events = 0;
  /** Arrival of the first and of the last output event (performance.now()), 0 before. */
  tFirst = 0;
  tLast = 0;
  /** Sum of the gaps between successive output events (ms). */
  gapSum = 0;
  private gaps: GapHistogram | undefined;

  private state = S_OUT;
  private escape = false;
  /** Which name the string being read can still be (-1 none, UNSEEN before its first byte), and its bytes so far. */
  private cand = -1;
  private keyLen = 0;
  /** Which name matched (its index), while its value is being looked at. */
  private key = -1;
  /** The current event carries output; the previous byte ended a line (a blank line ends the event). */
  private output = false;
  private lineStart = true;

  /** Reads `chunk`, which arrived at `now`. */
  push(chunk: Uint8Array, now: number): void {
    // The state lives in locals for the loop (property stores per byte cost twice the time).
    let state = this.state;
    let escape = this.escape;
    let cand = this.cand;
    let keyLen = this.keyLen;
    let lineStart = this.lineStart;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      let c = chunk[i]!;
      // Fast paths: outside strings, and inside strings that cannot be a key we look for, only
      // a quote, a backslash or a line break matters.
      if (state === S_OUT || (state === S_STR && cand === -1 && !escape)) {
        while (c !== QUOTE && c !== LF && c !== BACKSLASH) {
          if (c !== CR) lineStart = false;
          if (++i === n) break;
          c = chunk[i]!;
        }
        if (i === n) break;
      }
      if (c === LF) {
        // A JSON string cannot hold a raw line break, and each SSE line is read on its own.
        if (lineStart) this.endEvent(now);
        lineStart = true;
        state = S_OUT;
        escape = false;
        continue;
      }
      if (c !== CR) lineStart = false;
      switch (state) {
        case S_OUT:
          if (c === QUOTE) {
            state = S_STR;
            cand = UNSEEN;
            keyLen = 0;
          }
          break;
        case S_STR:
          if (escape) {
            escape = false;
          } else if (c === BACKSLASH) {
            escape = true;
            cand = -1;
          } else if (c === QUOTE) {
            // A string closed: a key we look for if it matched whole (and a ':' follows).
            state = cand >= 0 && KEYS[cand]!.length === keyLen ? S_KEY : S_OUT;
            this.key = cand;
            cand = -1;
          } else if (cand === UNSEEN) {
            cand = c === 99 ? CONTENT : c === 116 ? TEXT : c === 102 ? FUNCTION_CALL : -1; // c t f
            keyLen = 1;
          } else if (cand >= 0) {
            if (keyLen === 1 && cand === TEXT && c === 111) cand = TOOL_CALLS; // "to…"
            const key = KEYS[cand]!;
            cand = keyLen < key.length && key[keyLen] === c ? cand : -1;
            keyLen++;
          }
          break;
        case S_KEY:
          if (c === 58) state = S_VAL; // ':'
          else if (!isWs(c)) state = S_OUT;
          break;
        case S_VAL:
          if (isWs(c)) break;
          if (this.key === CONTENT || this.key === TEXT) state = c === QUOTE ? S_STR_FIRST : S_OUT;
          else state = c === 91 || c === 123 ? S_ARR_FIRST : S_OUT; // '[' '{'
          break;
        case S_STR_FIRST:
          if (c === QUOTE) {
            state = S_OUT; // ""
          } else {
            this.output = true;
            state = S_STR;
            cand = -1;
            escape = c === BACKSLASH;
          }
          break;
        case S_ARR_FIRST:
          if (isWs(c)) break;
          if (c !== 93 && c !== 125) this.output = true; // not ']' or '}'
          state = S_OUT;
          if (c === QUOTE) {
            state = S_STR;
            cand = UNSEEN;
            keyLen = 0;
          }
          break;
      }
    }
    this.state = state;
    this.escape = escape;
    this.cand = cand;
    this.keyLen = keyLen;
    this.lineStart = lineStart;
  }

  /** The stream ended: an output event without its closing blank line counts at `now`. */
  end(now: number): void {
    this.endEvent(now);
  }

  /** Mean gap (ms), or null with fewer than 2 output events. */
  meanGap(): number | null {
    return this.events >= 2 ? this.gapSum / (this.events - 1) : null;
  }

  /** p95 of the gaps (ms), or null with fewer than 2 output events. */
  p95Gap(): number | null {
    return this.gaps ? this.gaps.quantile(0.95) : null;
  }

  private endEvent(now: number): void {
    if (!this.output) return;
    this.output = false;
    if (this.events === 0) {
      this.tFirst = now;
    } else {
      const gap = Math.max(0, now - this.tLast);
      this.gapSum += gap;
      (this.gaps ??= new GapHistogram()).add(gap);
    }
    this.tLast = now;
    this.events++;
  }
}
