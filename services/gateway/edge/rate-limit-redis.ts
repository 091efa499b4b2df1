/**
 * Token buckets shared by every gateway on one Redis: one Lua script per request takes a token
 * from each bucket atomically (all or none) with the Redis server's clock, so N gateways enforce
 * one limit and their clocks need not agree. Keys expire once the bucket would be full again.
 * When Redis does not answer within the timeout the request is let through (fail open: a rate
 * limit must not take the gateway down with Redis) and `onError` is told, for a metric and a log.
 * All keys of one request must live on one Redis node (a single Redis, or a hash tag in Cluster).
 *
 * Token budgets use two more scripts on the same connection and keys of their own: RESERVE takes
 * an amount from every bucket when each holds min(amount, burst), all or none (token-bucket.ts
 * `decideReserve`); ADJUST gives back or charges the difference once the real usage is known.
 * A reservation Redis did not answer is let through unreserved (and its settling skipped).
 */
import { Redis } from 'ioredis';
import { decideReserve, type BucketSpec, type RateDecision, type ReserveDecision } from './token-bucket.ts';

const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local tokens = {}
local ok = 1
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', KEYS[i], 't', 'n')
  local tok = burst
  if v[1] then tok = math.min(burst, tonumber(v[2]) + (now - tonumber(v[1])) * rate / 1000) end
  if tok < 1 then ok = 0 end
  tokens[i] = tok
end
local out = { ok }
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tok = tokens[i]
  if ok == 1 then tok = tok - 1 end
  redis.call('HSET', KEYS[i], 't', now, 'n', string.format('%.6f', tok))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - tok) * 1000 / rate) + 1000)
  out[i + 1] = string.format('%.6f', tok)
end
return out
`;

/** The bucket's tokens now (refilled on the server's clock, at most burst), as `tok`; `now` in ms. */
const REFILL = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 't', 'n')
  if not v[1] then return burst end
  return math.min(burst, tonumber(v[2]) + math.max(0, now - tonumber(v[1])) * rate / 1000)
end
local function save(key, rate, burst, tok)
  redis.call('HSET', key, 't', now, 'n', string.format('%.6f', tok))
  redis.call('PEXPIRE', key, math.ceil((burst - tok) * 1000 / rate) + 1000)
end
`;

/**
 * ARGV: amount, then rate and burst per key. Reply: 1|0, then each bucket's tokens (after when
 * taken, before when refused).
 */
const RESERVE = `${REFILL}
local amount = tonumber(ARGV[1])
local n = #KEYS
local tokens = {}
local ok = 1
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  tokens[i] = level(KEYS[i], rate, burst)
  if tokens[i] < math.min(amount, burst) then ok = 0 end
end
local out = { ok }
for i = 1, n do
  if ok == 1 then
    tokens[i] = tokens[i] - amount
    save(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), tokens[i])
  end
  out[i + 1] = string.format('%.6f', tokens[i])
end
return out
`;

/** ARGV: delta (tokens given back; negative charges), then rate and burst per key. */
const ADJUST = `${REFILL}
local delta = tonumber(ARGV[1])
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  save(KEYS[i], rate, burst, math.min(burst, level(KEYS[i], rate, burst) + delta))
end
return 1
`;

/** What a Redis call was for, when it failed. */
export type StoreOp = 'take' | 'reserve' | 'adjust';

/** Options of {@link RedisBuckets}. */
export interface RedisBucketsOptions {
  url: string;
  keyPrefix: string;
  /** Longest wait for an answer before letting the request through. */
  timeoutMs: number;
  /** Redis failed or was too slow for one request (let through) or one settling (skipped). */
  onError: (err: Error, op: StoreOp) => void;
}

type Script = (numKeys: number, ...args: Array<string | number>) => Promise<Array<number | string>>;
type WithScript = Redis & { mlgateTake: Script; mlgateReserve: Script; mlgateAdjust: Script };

/** A reservation's answer; `stored` false when Redis failed and the request was let through unreserved. */
export interface StoredReserve extends ReserveDecision {
  stored: boolean;
}

/** Buckets in Redis. */
export class RedisBuckets {
  private readonly redis: WithScript;

  constructor(private readonly opts: RedisBucketsOptions) {
    this.redis = new Redis(opts.url, {
      lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: 1, commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(1000, opts.timeoutMs), retryStrategy: (n) => Math.min(n * 200, 2000),
    }) as WithScript;
    this.redis.on('error', () => { /* reported per request through onError */ });
    this.redis.defineCommand('mlgateTake', { lua: SCRIPT });
    this.redis.defineCommand('mlgateReserve', { lua: RESERVE });
    this.redis.defineCommand('mlgateAdjust', { lua: ADJUST });
  }

  /** Resolves once connected (or rejects after `ms`). For start-up checks and tests. */
  async ready(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.redis.status !== 'ready') {
      if (Date.now() > deadline) throw new Error(`redis not ready after ${ms} ms (status ${this.redis.status})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Takes one token from each bucket, or none; lets the request through when Redis fails. */
  async take(buckets: readonly BucketSpec[]): Promise<RateDecision> {
    const keys = buckets.map((b) => this.opts.keyPrefix + b.key);
    const args: Array<string | number> = [];
    for (const b of buckets) args.push(b.rate, b.burst);
    let reply: Array<number | string>;
    try {
      reply = await this.redis.mlgateTake(keys.length, ...keys, ...args);
    } catch (err) {
      this.opts.onError(err as Error, 'take');
      const b = buckets[0]!;
      return { allowed: true, limit: b.burst, remaining: b.burst, retryAfterMs: 0, resetMs: 0, key: b.key };
    }
    const allowed = Number(reply[0]) === 1;
    const after = buckets.map((_, i) => Number(reply[i + 1]));
    // The same reading of the buckets as LocalBuckets (token-bucket.ts `decide`), from the state after.
    let tight = 0;
    let retry = 0;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      if (!allowed) {
        if (after[i]! < 1) {
          const r = Math.ceil(((1 - after[i]!) * 1000) / b.rate);
          if (r >= retry) { retry = r; tight = i; }
        }
      } else if (after[i]! < after[tight]!) tight = i;
    }
    const b = buckets[tight]!;
    const left = after[tight]!;
    return {
      allowed, limit: b.burst, remaining: Math.max(0, Math.floor(left)), retryAfterMs: allowed ? 0 : retry,
      resetMs: Math.ceil(((b.burst - left) * 1000) / b.rate), key: b.key,
    };
  }

  /**
   * Reserves `amount` tokens from each bucket, or none (token-bucket.ts `decideReserve`, on the
   * server's clock). When Redis fails: allowed, `stored` false (nothing to settle later).
   */
  async reserve(buckets: readonly BucketSpec[], amount: number): Promise<StoredReserve> {
    let reply: Array<number | string>;
    try {
      reply = await this.redis.mlgateReserve(buckets.length, ...this.keysOf(buckets), amount, ...this.argsOf(buckets));
    } catch (err) {
      this.opts.onError(err as Error, 'reserve');
      return { allowed: true, refuser: -1, retryAfterMs: 0, after: buckets.map((b) => b.burst), stored: false };
    }
    const after = buckets.map((_, i) => Number(reply[i + 1]));
    if (Number(reply[0]) === 1) return { allowed: true, refuser: -1, retryAfterMs: 0, after, stored: true };
    // Refused: the reply holds each bucket's tokens before, so the local arithmetic names the refuser and the wait.
    const d = decideReserve(buckets, after, amount);
    return { ...d, allowed: false, stored: true };
  }

  /** Gives `delta` tokens back to each bucket (negative: charges them). Resolves false when Redis failed. */
  async adjust(buckets: readonly BucketSpec[], delta: number): Promise<boolean> {
    try {
      await this.redis.mlgateAdjust(buckets.length, ...this.keysOf(buckets), delta, ...this.argsOf(buckets));
      return true;
    } catch (err) {
      this.opts.onError(err as Error, 'adjust');
      return false;
    }
  }

  private keysOf(buckets: readonly BucketSpec[]): string[] {
    return buckets.map((b) => this.opts.keyPrefix + b.key);
  }

  private argsOf(buckets: readonly BucketSpec[]): number[] {
    const args: number[] = [];
    for (const b of buckets) args.push(b.rate, b.burst);
    return args;
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
