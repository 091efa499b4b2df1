/**
 * Keyed payload hashes: HMAC-SHA-256 with a configured, rotatable key over a canonical form.
 * A plain SHA-256 of a short input (an email) can be reversed by guessing; a keyed hash cannot,
 * and still finds every request with the same payload. JSON bodies are canonicalised (sorted
 * keys, numbers normalised, no whitespace, strings and keys in Unicode NFC) so one logical input
 * has one hash whatever its key order or formatting; anything else is hashed as bytes.
 *
 * Limits: JSON numbers are IEEE doubles after parsing, so integers above 2^53 that differ only
 * past double precision hash alike; `1`, `1.0` and `1e0` are one number (that is the point).
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { TelemetryErrors } from './errors.ts';

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

const nfc = (s: string): string => (/[\u0080-\uffff]/.test(s) ? s.normalize('NFC') : s);

/**
 * Canonical JSON: keys sorted (by UTF-16 code units, after NFC), no whitespace, numbers in their
 * shortest round-trip form, strings in NFC. Values JSON cannot hold (undefined, functions,
 * non-finite numbers) become `null`, as JSON.stringify does inside arrays.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'string') return JSON.stringify(nfc(value));
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const entries = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function')
    .map((k) => [nfc(k), k] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${entries.map(([n, k]) => `${JSON.stringify(n)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

function looksJson(contentType: string | undefined, text: string): boolean {
  if (contentType) return /json/i.test(contentType);
  const c = text.trimStart()[0];
  return c === '{' || c === '[';
}

/** Builds a hasher; rejects a missing or short key at setup (MLG_TEL_HASH_KEY). */
export function createHasher(opts: HasherOptions): Hasher {
  if (!opts || typeof opts.key !== 'string' || opts.key.length < 16) throw TelemetryErrors.hashKey('telemetry.hashing.key must be at least 16 characters');
  if (typeof opts.keyId !== 'string' || !opts.keyId) throw TelemetryErrors.hashKey('telemetry.hashing.keyId must not be empty');
  const key: KeyObject = createSecretKey(Buffer.from(opts.key, 'utf8'));
  const hmac = (data: string | Buffer) => createHmac('sha256', key).update(data).digest('hex');
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
