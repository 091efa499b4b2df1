/**
 * Token buckets, pure: a bucket refills `rate` tokens per second up to `burst`; a request takes
 * one token from every bucket that applies to it (consumer, consumer+model), all or none.
 * {@link LocalBuckets} keeps them in this process; rate-limit-redis.ts keeps them in Redis with
 * the same arithmetic in a Lua script.
 *
 * Token budgets (LLM tokens per minute) use the same buckets with a cost: {@link decideReserve}
 * admits a reservation of `amount` when every bucket holds at least min(amount, burst) and then
 * takes `amount` from each (a bucket may go below zero: a request larger than the burst waits
 * for a full bucket, then leaves a debt the refill pays); {@link adjusted} gives back (or
 * charges) the difference once the real usage is known, never above `burst`, possibly below 0.
 */

/** One bucket a request must take a token from. */
export interface BucketSpec {
  /** Store key, e.g. `c:<consumer>` or `cm:<consumer>:<model>`. */
  readonly key: string;
  /** Tokens per second. */
  readonly rate: number;
  /** Capacity. */
  readonly burst: number;
}

/** The answer for one request. */
export interface RateDecision {
  allowed: boolean;
  /** Capacity of the tightest bucket (RateLimit-Limit). */
  limit: number;
  /** Whole tokens left in the tightest bucket after this request (RateLimit-Remaining). */
  remaining: number;
  /** When refused: ms until a token is back in every bucket (Retry-After). 0 when allowed. */
  retryAfterMs: number;
  /** Ms until the tightest bucket is full again (RateLimit-Reset). */
  resetMs: number;
  /** Key of the bucket that refused (or the tightest one). */
  key: string;
}

/** Decides from each bucket's tokens (before taking) the request's answer; returns tokens after. */
export function decide(buckets: readonly BucketSpec[], tokens: number[]): { decision: RateDecision; after: number[] } {
  let allowed = true;
  let retry = 0;
  let refuser = -1;
  for (let i = 0; i < buckets.length; i++) {
    const t = tokens[i]!;
    if (t < 1) {
      allowed = false;
      const r = Math.ceil(((1 - t) * 1000) / buckets[i]!.rate);
      if (r >= retry) { retry = r; refuser = i; }
    }
  }
  const after = allowed ? tokens.map((t) => t - 1) : tokens.slice();
  let tight = refuser;
  if (tight < 0) {
    let best = Infinity;
    for (let i = 0; i < buckets.length; i++) if (after[i]! < best) { best = after[i]!; tight = i; }
  }
  const b = buckets[tight]!;
  const left = after[tight]!;
  return {
    after,
    decision: {
      allowed, limit: b.burst, remaining: Math.max(0, Math.floor(left)), retryAfterMs: allowed ? 0 : retry,
      resetMs: Math.ceil(((b.burst - left) * 1000) / b.rate), key: b.key,
    },
  };
}

/** The answer to a token reservation. */
export interface ReserveDecision {
  allowed: boolean;
  /** Index of the bucket that refused (the longest wait), or -1 when allowed. */
  refuser: number;
  /** When refused: ms until the refusing bucket holds min(amount, burst). 0 when allowed. */
  retryAfterMs: number;
  /** Tokens each bucket holds after (negative: a debt being refilled). */
  after: number[];
}

/** Tokens a bucket holds `elapsedMs` after holding `tokens` (refilled, at most `burst`). */
export function refilled(b: BucketSpec, tokens: number, elapsedMs: number): number {
  return Math.min(b.burst, tokens + (Math.max(0, elapsedMs) * b.rate) / 1000);
}

/** Ms until a bucket holding `tokens` holds `need` (0 when it does). */
export function msUntil(b: BucketSpec, tokens: number, need: number): number {
  return tokens >= need ? 0 : Math.ceil(((need - tokens) * 1000) / b.rate);
}

/** Admits a reservation of `amount` tokens from every bucket (each holding `tokens[i]` now), all or none. */
export function decideReserve(buckets: readonly BucketSpec[], tokens: readonly number[], amount: number): ReserveDecision {
  let refuser = -1;
  let retry = 0;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]!;
    const wait = msUntil(b, tokens[i]!, Math.min(amount, b.burst));
    if (wait > 0 && wait >= retry) { retry = wait; refuser = i; }
  }
  const allowed = refuser < 0;
  return { allowed, refuser, retryAfterMs: retry, after: allowed ? tokens.map((t) => t - amount) : tokens.slice() };
}

/** A bucket holding `tokens` after `delta` more (negative: charged), at most `burst`. */
export function adjusted(b: BucketSpec, tokens: number, delta: number): number {
  return Math.min(b.burst, tokens + delta);
}

interface State {
  tokens: number;
  at: number;
}

/** Buckets in this process. Keys idle long enough to be full again are forgotten. */
export class LocalBuckets {
  private readonly states = new Map<string, State>();
  private sweeps = 0;

  constructor(private readonly now: () => number = () => performance.now(), private readonly maxKeys = 100_000) {}

  /** Takes one token from each bucket, or none. */
  take(buckets: readonly BucketSpec[]): RateDecision {
    const now = this.now();
    const tokens = buckets.map((b) => {
      const s = this.states.get(b.key);
      return s === undefined ? b.burst : Math.min(b.burst, s.tokens + ((now - s.at) * b.rate) / 1000);
    });
    const { decision, after } = decide(buckets, tokens);
    for (let i = 0; i < buckets.length; i++) {
      const s = this.states.get(buckets[i]!.key);
      if (s) { s.tokens = after[i]!; s.at = now; } else this.states.set(buckets[i]!.key, { tokens: after[i]!, at: now });
    }
    if (this.states.size > this.maxKeys && ++this.sweeps % 64 === 0) this.evict();
    return decision;
  }

  /** Reserves `amount` tokens from each bucket, or none ({@link decideReserve}). */
  reserve(buckets: readonly BucketSpec[], amount: number): ReserveDecision {
    const now = this.now();
    const d = decideReserve(buckets, buckets.map((b) => this.tokensOf(b, now)), amount);
    if (d.allowed) this.store(buckets, d.after, now);
    return d;
  }

  /** Gives `delta` tokens back to each bucket (negative: charges them), at most its burst. */
  adjust(buckets: readonly BucketSpec[], delta: number): void {
    const now = this.now();
    this.store(buckets, buckets.map((b) => adjusted(b, this.tokensOf(b, now), delta)), now);
  }

  private tokensOf(b: BucketSpec, now: number): number {
    const s = this.states.get(b.key);
    return s === undefined ? b.burst : refilled(b, s.tokens, now - s.at);
  }

  private store(buckets: readonly BucketSpec[], after: readonly number[], now: number): void {
    for (let i = 0; i < buckets.length; i++) {
      const s = this.states.get(buckets[i]!.key);
      if (s) { s.tokens = after[i]!; s.at = now; } else this.states.set(buckets[i]!.key, { tokens: after[i]!, at: now });
    }
    if (this.states.size > this.maxKeys && ++this.sweeps % 64 === 0) this.evict();
  }

  /** Keys held. */
  get size(): number {
    return this.states.size;
  }

  /** Drops the first-inserted keys down to 90% of the bound (a refused key may refill early: it errs towards letting through). */
  private evict(): void {
    const drop = this.states.size - Math.floor(this.maxKeys * 0.9);
    let i = 0;
    for (const k of this.states.keys()) {
      if (i++ >= drop) break;
      this.states.delete(k);
    }
  }
}
