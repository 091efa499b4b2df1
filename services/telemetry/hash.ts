/**
 * Keyed payload hashes: HMAC-SHA-256 with a configured, rotatable key over a canonical form.
 * A plain SHA-256 of a short input (an email) can be reversed by guessing; a keyed hash cannot,
 * and still finds every request with the same payload. JSON bodies are canonicalised (sorted
 * keys, numbers normalised, no whitespace) so one logical input has one hash whatever its key
 * order or formatting; anything else is hashed as bytes.
 */
import { createHmac } from 'node:crypto';

/** Options of {@link createHasher}. */
export interface HasherOptions {
  /** Secret key (at least 16 bytes of text). */
  key: string;
  /** Identifier of the key, stored with every hash so keys can rotate. */
  keyId: string;
}

/** Computes keyed hashes of payloads. */
export interface Hasher {
  /** The id stored as `hash_key_id`. */
  readonly keyId: string;
  /** Hash of a payload: canonical JSON when `body` parses as JSON (and `contentType` allows), else bytes. */
  hashPayload(body: Buffer | string, contentType?: string): string;
  /** Hash of an already-parsed JSON value. */
  hashValue(value: unknown): string;
}

/** Canonical JSON: sorted keys, no whitespace, numbers in their shortest round-trip form. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as Record<string, unknown>).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

function looksJson(contentType: string | undefined, text: string): boolean {
  if (contentType && !/json/i.test(contentType)) return false;
  const c = text.trimStart()[0];
  return c === '{' || c === '[';
}

/** Builds a hasher; rejects a missing or short key at setup. */
export function createHasher(opts: HasherOptions): Hasher {
  if (!opts.key || opts.key.length < 16) throw new Error('telemetry.hashing.key must be at least 16 characters');
  if (!opts.keyId) throw new Error('telemetry.hashing.keyId must not be empty');
  const hmac = (data: string | Buffer) => createHmac('sha256', opts.key).update(data).digest('hex');
  return {
    keyId: opts.keyId,
    hashValue: (value) => hmac(canonicalJson(value)),
    hashPayload(body, contentType) {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (looksJson(contentType, text)) {
        try {
          return hmac(canonicalJson(JSON.parse(text)));
        } catch {
          /* not JSON after all: hash the bytes */
        }
      }
      return hmac(typeof body === 'string' ? Buffer.from(body) : body);
    },
  };
}
