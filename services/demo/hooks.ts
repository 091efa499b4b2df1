/**
 * The demo's edge hooks: each request names its consumer with an `x-api-key` from a fixed table
 * (the consumer id, never the key, goes into the telemetry), an unknown key is refused with 401,
 * no key means the anonymous consumer, and the key is stripped before the request reaches the model.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayErrors } from '../gateway/errors.ts';
import { ANONYMOUS, type GatewayHooks } from '../gateway/hooks.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Hooks resolving consumers from `keys` (API key → consumer id). */
export function apiKeyHooks(keys: Readonly<Record<string, string>>): GatewayHooks {
  const table = Object.entries(keys).map(([key, id]) => ({ hash: digest(key), consumer: Object.freeze({ id }) }));
  return {
    stripRequestHeaders: ['x-api-key'],
    resolveConsumer(req) {
      const key = req.headers['x-api-key'];
      if (key === undefined) return ANONYMOUS;
      const h = digest(Array.isArray(key) ? key.join(',') : key);
      const hit = table.find((e) => timingSafeEqual(e.hash, h));
      return hit ? hit.consumer : GatewayErrors.unauthorized('unknown API key');
    },
  };
}
