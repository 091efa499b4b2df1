/** Unit tests of the edge's pure parts: API keys, token buckets, permissions, input schemas, LRU cache. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyIndex, createApiKey, hashApiKey, API_KEY_HASH_PATTERN } from '../../../services/gateway/edge/api-keys.ts';
import { Lru, ResponseCache, cacheKey } from '../../../services/gateway/edge/cache.ts';
import { CacheSchema } from '../../../services/gateway/edge/edge-config.ts';
import { grantOf, type EdgeConsumer } from '../../../services/gateway/edge/consumers.ts';
import { InputSchemas } from '../../../services/gateway/edge/input-schema.ts';
import { mayCall, mayPin } from '../../../services/gateway/edge/permissions.ts';
import { LocalBuckets } from '../../../services/gateway/edge/token-bucket.ts';

test('api keys: the hash matches the pattern, the index finds only the exact key', () => {
  const a = createApiKey();
  const b = createApiKey();
  assert.match(a.hash, API_KEY_HASH_PATTERN);
  assert.equal(hashApiKey(a.key), a.hash);
  assert.ok(!a.hash.includes(a.key.slice(13)), 'the hash must not contain the secret');
  const idx = new ApiKeyIndex([['acme', [a.hash]], ['beta', [b.hash]]]);
  assert.equal(idx.lookup(a.key), 'acme');
  assert.equal(idx.lookup(b.key), 'beta');
  const flipped = a.key.slice(0, -1) + (a.key.endsWith('A') ? 'B' : 'A');
  assert.equal(idx.lookup(flipped), undefined);
  assert.equal(idx.lookup('not-a-key'), undefined);
  assert.throws(() => hashApiKey('nope'), /not an mlgate API key/);
});

test('token bucket: burst, refill, all-or-nothing over two buckets', () => {
  let now = 0;
  const tb = new LocalBuckets(() => now);
  const c = { key: 'c:a', rate: 1, burst: 3 };
  const cm = { key: 'cm:a:m', rate: 10, burst: 10 };
  for (let i = 0; i < 3; i++) assert.equal(tb.take([c, cm]).allowed, true);
  const refused = tb.take([c, cm]);
  assert.equal(refused.allowed, false);
  assert.equal(refused.key, 'c:a');
  assert.equal(refused.retryAfterMs, 1000);
  assert.equal(refused.remaining, 0);
  assert.equal(tb.take([cm]).remaining, 6, 'the refused request took nothing from the model bucket');
  now = 1000;
  assert.equal(tb.take([c]).allowed, true);
  assert.equal(tb.take([c]).allowed, false);
});

test('permissions: models, wildcard, pin only where allowed', () => {
  const c: EdgeConsumer = { id: 'a', models: grantOf(['m1']), pin: new Set(['m1', 'm2']), limits: undefined, via: 'api_key' };
  assert.equal(mayCall(c, 'm1'), true);
  assert.equal(mayCall(c, 'm2'), false);
  assert.equal(mayPin(c, 'm1'), true);
  assert.equal(mayPin(c, 'm2'), false, 'pinning needs the model too');
  const all: EdgeConsumer = { ...c, models: grantOf(['*']), pin: false };
  assert.equal(mayCall(all, 'anything'), true);
  assert.equal(mayPin(all, 'm1'), false);
});

test('input schema: first failures with paths, not-JSON refused, bad schema fails at setup', () => {
  const s = new InputSchemas({ m: { type: 'object', required: ['text'], properties: { text: { type: 'string', maxLength: 5 } } } });
  assert.equal(s.check('m', { text: 'hi' }, true), undefined);
  assert.equal(s.check('other', 42, true), undefined);
  const r = s.check('m', { text: 123 }, true)!;
  assert.equal(r.reason, 'type');
  assert.equal(r.error.statusCode, 400);
  assert.equal(r.error.code, 'MLG_EDGE_SCHEMA_INVALID');
  assert.deepEqual((r.error.details!.errors as Array<{ path: string }>)[0]!.path, '/text');
  assert.equal(s.check('m', {}, true)!.reason, 'required');
  assert.equal(s.check('m', undefined, false)!.reason, 'not_json');
  assert.throws(() => new InputSchemas({ bad: { type: 'no-such-type' } }), /MLG_EDGE|does not compile/);
});

test('cache: TTL, LRU by entries and bytes, invalidation on a weight change', () => {
  let now = 0;
  const lru = new Lru(CacheSchema.parse({ ttlMs: 100, maxEntries: 2, maxBytes: 10, maxEntryBytes: 8 }), () => now);
  const r = (n: number) => ({ status: 200, contentType: 'application/json', body: Buffer.alloc(n) });
  assert.equal(lru.set('a', r(4)), true);
  assert.equal(lru.set('b', r(4)), true);
  assert.ok(lru.get('a'));
  lru.set('c', r(4)); // over 2 entries: b (least recently used) goes
  assert.equal(lru.get('b'), undefined);
  assert.ok(lru.get('a'));
  assert.equal(lru.set('big', r(9)), false);
  now = 200;
  assert.equal(lru.get('a'), undefined, 'expired');
  const cfg = new Map([['m\0v1', CacheSchema.parse({})]]);
  const rc = new ResponseCache(cfg);
  rc.onState('m', [{ name: 'v1', weight: 100, state: 'active' }]);
  rc.of('m', 'v1')!.set(cacheKey('POST', '/predict', 'h'), r(1));
  assert.deepEqual(rc.onState('m', [{ name: 'v1', weight: 100, state: 'active' }]), []);
  assert.ok(rc.of('m', 'v1')!.get(cacheKey('POST', '/predict', 'h')));
  assert.deepEqual(rc.onState('m', [{ name: 'v1', weight: 90, state: 'active' }]), ['v1']);
  assert.equal(rc.of('m', 'v1')!.get(cacheKey('POST', '/predict', 'h')), undefined);
  assert.equal(rc.of('m', 'v2'), undefined);
});
