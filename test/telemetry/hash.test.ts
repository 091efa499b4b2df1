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
