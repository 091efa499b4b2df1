/**
 * A token bucket per caller: `perMinute` calls, refilled continuously, bursting to `perMinute`.
 * The audit API puts its keyed-hash oracles behind one, so that even the role allowed to use
 * them cannot run a dictionary against hashed PII at machine speed. Pure: the caller passes the
 * clock. Keys are token names, a set fixed by the config, so the map cannot grow without bound.
 */
import { AuditErrors } from './errors.ts';

/** Takes one call for `key`; returns 0 when allowed, else the whole seconds until one is. */
export type RateLimiter = (key: string) => number;

/** Builds a limiter of `perMinute` calls per key. @throws MLG_AUD_BAD_OPTIONS for a bad rate */
export function createRateLimiter(perMinute: number, now: () => number = Date.now): RateLimiter {
  if (!Number.isInteger(perMinute) || perMinute < 1) throw AuditErrors.badOptions(`rate limiter: perMinute must be a whole number >= 1, got ${perMinute}`);
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (key) => {
    const t = now();
    const b = buckets.get(key) ?? { tokens: perMinute, at: t };
    b.tokens = Math.min(perMinute, b.tokens + Math.max(0, t - b.at) * perMs);
    b.at = t;
    buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / perMs / 1000);
  };
}
