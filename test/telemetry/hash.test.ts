import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { canonicalJson, createHasher } from '../../services/telemetry/hash.ts';
import { TelemetryErrors } from '../../services/telemetry/errors.ts';

const KEY = 'test-key-0123456789abcdef';
const h = createHasher({ key: KEY, keyId: 'k7' });

test('hash: one logical JSON input has one hash whatever its key order, spacing or number spelling', () => {
  const a = h.hashPayload('{"b":[1,2,{"y":1.0,"x":"é"}],"a":1e2}', 'application/json');
  const b = h.hashPayload(Buffer.from('{\n  "a": 100,\n  "b": [1, 2, {"x": "e\u0301", "y": 1}]\n}'), 'application/json; charset=utf-8');
  const c = h.hashValue({ a: 100, b: [1, 2, { x: 'é', y: 1 }] });
  assert.equal(a, b);
  assert.equal(a, c);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.notEqual(h.hashValue({ a: 100, b: [2, 1, { x: 'é', y: 1 }] }), a, 'array order is meaningful');
  assert.notEqual(h.hashValue({ a: '100', b: [1, 2, { x: 'é', y: 1 }] }), a, 'types are meaningful');
  assert.equal(h.hashPayload(' "x" ', 'application/json'), h.hashValue('x'), 'JSON scalars are canonical too');
});

test('hash: canonical form sorts keys, drops whitespace and unrepresentable values', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: undefined, y: -0 } }), '{"a":[true,null,"x"],"b":1,"c":{"y":0}}');
  assert.equal(canonicalJson([Infinity, NaN]), '[null,null]');
});

/** The first, plainly written canonical form: the fast one must agree with it on everything. */
function referenceCanonical(value: unknown): string {
  const nfc = (x: string) => x.normalize('NFC');
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'string') return JSON.stringify(nfc(value));
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => referenceCanonical(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const entries = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function')
    .map((k) => [nfc(k), k] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${entries.map(([n, k]) => `${JSON.stringify(n)}:${referenceCanonical(obj[k])}`).join(',')}}`;
}

test('hash: the canonical form agrees with a plain reference on 3,000 generated values', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const keys = ['a', 'b', 'z', 'A', '_', '10', '2', 'é', 'e\u0301', 'Å', 'A\u030a', '日本', '\ud83d\ude00', 'x"y', 'a\\b', 'long_key_name', ''];
  const scalars: unknown[] = [0, -0, 1, -1, 1.5, 1e21, 1e-7, 2 ** 53 + 2, Infinity, NaN, true, false, null, undefined, 'plain', 'e\u0301', '\u2028', '"q"', 12n, () => 1];
  const gen = (depth: number): unknown => {
    const r = rnd();
    if (depth > 3 || r < 0.4) return pick(scalars);
    if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 5) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rnd() * 7); i > 0; i--) o[pick(keys)] = gen(depth + 1);
    return o;
  };
  let sortedSeen = 0;
  for (let i = 0; i < 3000; i++) {
    const v = gen(0);
    assert.equal(canonicalJson(v), referenceCanonical(v), `value ${i}`);
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 2) sortedSeen++;
  }
  assert.ok(sortedSeen > 100, 'objects with several keys were generated');
  // Keys equal after NFC keep their own order, as a stable sort does.
  assert.equal(canonicalJson({ b: 1, 'e\u0301': 2, 'é': 3, a: 4 }), referenceCanonical({ b: 1, 'e\u0301': 2, 'é': 3, a: 4 }));
});

test('hash: keyed, so a short input cannot be found by hashing guesses; the key id travels with it', () => {
  const email = 'john.doe@example.com';
  const keyed = h.hashPayload(email, 'text/plain');
  assert.notEqual(keyed, createHash('sha256').update(email).digest('hex'), 'not a plain SHA-256');
  assert.equal(keyed, createHmac('sha256', KEY).update(email).digest('hex'), 'HMAC-SHA-256 with the configured key');
  const other = createHasher({ key: 'another-key-0123456789', keyId: 'k8' });
  assert.notEqual(other.hashPayload(email, 'text/plain'), keyed, 'a rotated key gives other hashes');
  assert.equal(other.keyId, 'k8');
  assert.equal(h.keyId, 'k7');
});

test('hash: non-JSON bodies are hashed as bytes, also when JSON parsing fails', () => {
  const bytes = Buffer.from([0xff, 0x00, 0x10, 0x80]);
  assert.equal(h.hashPayload(bytes, 'application/octet-stream'), createHmac('sha256', KEY).update(bytes).digest('hex'));
  assert.equal(h.hashPayload('{"a":', 'application/json'), createHmac('sha256', KEY).update('{"a":').digest('hex'));
  assert.notEqual(h.hashPayload('{"a":1}', 'text/plain'), h.hashPayload('{ "a": 1 }', 'text/plain'), 'text is not canonicalised');
  assert.equal(h.hashPayload('{ "a": 1 }'), h.hashPayload('{"a":1}'), 'without a content type, a body that parses as JSON is JSON');
});

test('hash: a short or missing key is refused at setup with MLG_TEL_HASH_KEY', () => {
  assert.throws(() => createHasher({ key: 'short', keyId: 'k1' }), (e) => TelemetryErrors.hashKey.is(e) && /at least 16/.test((e as Error).message));
  assert.throws(() => createHasher({ key: KEY, keyId: '' }), (e) => TelemetryErrors.hashKey.is(e));
});

test('hash: the two-pass HMAC of text equals createHmac for every key length and text shape', () => {
  const keys = ['k'.repeat(16), 'test-key-0123456789abcdef', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(65), 'clé-non-ascii-0123456789', 'ключ-0123456789abcdef'];
  const texts = ['', 'a', 'é☃😀', 'x'.repeat(52), 'x'.repeat(53), 'x'.repeat(62), 'x'.repeat(117), 'x'.repeat(4096), 'mail jane@example.com', '\u0000\uffff', 'lone \ud800 half'];
  for (const key of keys) {
    const hasher = createHasher({ key, keyId: 'k' });
    for (const text of texts) {
      // A JSON string value is hashed as its canonical text (quoted): the text path of the HMAC.
      assert.equal(hasher.hashValue(text), createHmac('sha256', key).update(JSON.stringify(text)).digest('hex'), `key of ${key.length} chars, text of ${text.length}`);
      assert.equal(hasher.hashPayload(text, 'text/plain'), createHmac('sha256', key).update(text).digest('hex'));
    }
    assert.equal(hasher.hashValue({ b: 1, a: 'é' }), createHmac('sha256', key).update('{"a":"é","b":1}').digest('hex'));
  }
});

test('a body declared JSON that does not parse is hashed as its bytes, by the event builder as by hashPayload', async () => {
  const { payloadFields } = await import('../../services/telemetry/event-builder.ts');
  const { createRedactor } = await import('../../services/telemetry/redact.ts');
  const key = 'event-builder-hash-key-0123';
  const h = createHasher({ key, keyId: 'k1' });
  const deps = { hasher: h, redactor: createRedactor({ budgetMs: 60_000, maxChars: 2048 }), gatewayId: 'g', paths: new Map() };
  for (const raw of ['{"broken":', '['.repeat(1000), '{"a": 1} trailing']) {
    const body = Buffer.from(raw);
    const bytes = createHmac('sha256', key).update(body).digest('hex');
    assert.equal(h.hashBytes(body), bytes);
    assert.equal(h.hashPayload(body, 'application/json'), bytes, 'hashPayload falls back to the bytes');
    const f = payloadFields({ requestBody: body, requestContentType: 'application/json', responseBody: body, responseContentType: 'application/json' } as never, deps as never);
    assert.equal(f.input_hash, bytes, `input ${raw.slice(0, 12)}`);
    assert.equal(f.output_hash, bytes, `output ${raw.slice(0, 12)}`);
  }
});
