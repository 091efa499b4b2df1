/**
 * Token buckets shared by every gateway on one Redis: one Lua script per request takes a token
 * from each bucket atomically (all or none) with the Redis server's clock, so N gateways enforce
 * one limit and their clocks need not agree. Keys expire once the bucket would be full again.
 * When Redis does not answer within the timeout the request is let through (fail open: a rate
 * limit must not take the gateway down with Redis) and `onError` is told, for a metric and a log.
 * All keys of one request must live on one Redis node (a single Redis, or a hash tag in Cluster).
 */
import { Redis } from 'ioredis';
import type { BucketSpec, RateDecision } from './token-bucket.ts';

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

/** Options of {@link RedisBuckets}. */
export interface RedisBucketsOptions {
  url: string;
  keyPrefix: string;
  /** Longest wait for an answer before letting the request through. */
  timeoutMs: number;
  /** Redis failed or was too slow for one request (which was let through). */
  onError: (err: Error) => void;
}

type WithScript = Redis & { mlgateTake(numKeys: number, ...args: Array<string | number>): Promise<string[] | Array<number | string>> };

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
      this.opts.onError(err as Error);
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

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
