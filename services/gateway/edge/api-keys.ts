/**
 * API keys. A key is `mlg_<key id>_<secret>` (8 hex id, 43 base64url characters of secret:
 * 256 random bits); the config stores only `sha256:<key id>:<sha256 of the whole key, hex>`.
 * A fast hash is right here: the key is random, not a password, so there is nothing to guess,
 * and a slow KDF would cost a core per few hundred requests. The key id finds the stored hash;
 * the digests are compared with timingSafeEqual.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Form of a stored key hash. */
export const API_KEY_HASH_PATTERN = /^sha256:[0-9a-f]{8}:[0-9a-f]{64}$/;
const KEY_PATTERN = /^mlg_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;

/** A new key and what to put in the config. */
export interface NewApiKey {
  /** Give this to the consumer once; it is not stored. */
  key: string;
  /** Put this in `consumers.<id>.keys`. */
  hash: string;
  keyId: string;
}

/** Makes a new random key. */
export function createApiKey(): NewApiKey {
  const keyId = randomBytes(4).toString('hex');
  const key = `mlg_${keyId}_${randomBytes(32).toString('base64url')}`;
  return { key, keyId, hash: hashApiKey(key) };
}

/** The stored form of a key. Throws on something that is not an mlgate key. */
export function hashApiKey(key: string): string {
  const m = KEY_PATTERN.exec(key);
  if (!m) throw new TypeError('not an mlgate API key (mlg_<8 hex>_<43 base64url>)');
  return `sha256:${m[1]}:${createHash('sha256').update(key).digest('hex')}`;
}

interface Entry {
  consumerId: string;
  digest: Buffer;
}

/** Finds the consumer of a presented key. Built from the config's hashes; immutable. */
export class ApiKeyIndex {
  private readonly byId = new Map<string, Entry[]>();

  /** @param keys consumer id -> its key hashes (already validated against the pattern). */
  constructor(keys: Iterable<readonly [consumerId: string, hashes: readonly string[]]>) {
    for (const [consumerId, hashes] of keys) {
      for (const h of hashes) {
        const [, id, hex] = h.split(':') as [string, string, string];
        const list = this.byId.get(id) ?? [];
        list.push({ consumerId, digest: Buffer.from(hex, 'hex') });
        this.byId.set(id, list);
      }
    }
  }

  /** Number of keys. */
  get size(): number {
    let n = 0;
    for (const l of this.byId.values()) n += l.length;
    return n;
  }

  /** The consumer id owning `key`, or undefined. Time does not depend on how much of a digest matches. */
  lookup(key: string): string | undefined {
    const m = KEY_PATTERN.exec(key);
    if (!m) return undefined;
    const list = this.byId.get(m[1]!);
    if (!list) return undefined;
    const digest = createHash('sha256').update(key).digest();
    let found: string | undefined;
    for (const e of list) if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.consumerId;
    return found;
  }
}
