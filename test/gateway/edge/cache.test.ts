/**
 * The response cache in the request path: a repeated input is served without calling the model
 * (the stand-in's count does not move), with `x-mlgate-cache: hit` and an event with cache 'hit'
 * and outcome ok; a different input misses; a weight change of the version drops its entries;
 * streamed answers are never cached; a version without a cache is untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../../support/upstream.ts';
import { admin, call, model, startTestGateway } from '../helpers.ts';

test('a cache hit does not reach the model and a weight change invalidates it', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const v2 = await startStandIn({ name: 'v2', t });
  const { gw, sink } = await startTestGateway(t, {
    models: {
      m: {
        versions: { v1: { targets: [v1.url], cache: { ttlMs: 60_000, maxEntries: 10 } }, v2: { targets: [v2.url] } },
        weights: { v1: 100, v2: 0 },
      },
    },
  });
  const url = `${gw.url}/v1/models/m/predict`;
  const ask = (body: unknown, version = 'v1') => call(url, { body, headers: { 'x-mlgate-version': version } });

  let r = await ask({ text: 'hello' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-mlgate-cache'], 'miss');
  const first = r.text;
  assert.equal(v1.count, 1);

  r = await ask({ text: 'hello' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-mlgate-cache'], 'hit');
  assert.equal(r.text, first, 'the cached body is the model\'s');
  assert.equal(r.headers['x-mlgate-version'], 'v1');
  assert.equal(v1.count, 1, 'the hit did not reach the model');
  const hitId = r.headers['x-mlgate-event-id'] as string;

  r = await ask({ text: 'other' });
  assert.equal(r.headers['x-mlgate-cache'], 'miss', 'another input misses');
  assert.equal(v1.count, 2);

  r = await ask({ text: 'hello' }, 'v2');
  assert.equal(r.headers['x-mlgate-cache'], undefined, 'a version without a cache says nothing');
  await ask({ text: 'hello' }, 'v2');
  assert.equal(v2.count, 2, 'a version without a cache always calls the model');

  const w = await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { v1: 90, v2: 10 }, reason: 'test' });
  assert.equal(w.status, 200, w.text);
  r = await ask({ text: 'hello' });
  assert.equal(r.headers['x-mlgate-cache'], 'miss', 'the weight change dropped the entry');
  assert.equal(v1.count, 3);
  r = await ask({ text: 'hello' });
  assert.equal(r.headers['x-mlgate-cache'], 'hit', 'and it is cached again');
  assert.equal(v1.count, 3);

  await sink.waitFor(7);
  const hit = sink.events.find((e) => e.event_id === hitId)!;
  assert.equal(hit.cache, 'hit');
  assert.equal(hit.outcome, 'ok');
  assert.equal(hit.status, 200);
  assert.equal(hit.upstream_latency_ms, null, 'no upstream call');
  assert.notEqual(hit.output_hash, '', 'the output is hashed as for any answer');
  const misses = sink.events.filter((e) => e.version === 'v1' && e.cache === 'miss');
  assert.equal(misses.length, 3);
  assert.ok(sink.events.filter((e) => e.version === 'v2').every((e) => e.cache === ''));
  const m = await admin(gw, 'GET', '/metrics');
  assert.match(m.text, /mlgate_gateway_cache_total\{[^}]*model="m",version="v1",result="hit"[^}]*\} 2/);
});

test('streamed answers are never cached', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: up.url }, { versionDefaults: { cache: {} } }) } });
  up.set({ mode: 'sse', chunks: 3, chunkIntervalMs: 1 });
  for (let i = 0; i < 2; i++) {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: { text: 'same' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-mlgate-cache'], 'miss');
  }
  assert.equal(up.count, 2, 'both streams reached the model');
  up.set({ mode: 'chunked' });
  for (let i = 0; i < 2; i++) await call(`${gw.url}/v1/models/m/predict`, { body: { text: 'same' } });
  assert.equal(up.count, 4, 'chunked answers are streams too');
  up.set({ mode: 'json' });
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: { text: 'same', stream: true } });
  assert.equal(r.headers['x-mlgate-cache'], 'miss');
  await call(`${gw.url}/v1/models/m/predict`, { body: { text: 'same', stream: true } });
  assert.equal(up.count, 6, 'a request asking for a stream is not served from the cache');
});
