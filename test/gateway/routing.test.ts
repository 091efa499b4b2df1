/**
 * Version choice over real sockets: weights, stickiness, minimal movement on a weight change,
 * pinning, and the response headers naming the version and the latencies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { startStandIn } from '../support/upstream.ts';
import { VersionPicker } from '../../services/gateway/routing/version-picker.ts';
import { startTestGateway, call, admin, model } from './helpers.ts';

test('routing: 10,000 requests at weights 90/10 split within ±2 points', async (t) => {
  const stable = await startStandIn({ name: 'stable', t, keep: 0 });
  const canary = await startStandIn({ name: 'canary', t, keep: 0 });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ stable: stable.url, canary: canary.url }, { weights: { stable: 90, canary: 10 }, fallback: 'stable' }) },
  });
  const pool = new Pool(gw.url, { connections: 16 });
  t.after(() => pool.close());
  const n = 10_000;
  const served: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await pool.request({ path: '/v1/models/m/predict', method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
      await r.body.dump();
      assert.equal(r.statusCode, 200);
      const v = String(r.headers['x-mlgate-version']);
      served[v] = (served[v] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const canaryShare = (served.canary ?? 0) / n;
  assert.ok(Math.abs(canaryShare - 0.1) <= 0.02, `canary share ${canaryShare}`);
  assert.equal((served.stable ?? 0) + (served.canary ?? 0), n);
  // the stand-ins agree with the header, and every request has its event with the right role
  assert.equal(stable.count, served.stable);
  assert.equal(canary.count, served.canary);
  await sink.waitFor(n);
  const roles = { stable: 0, canary: 0 } as Record<string, number>;
  for (const e of sink.events) roles[e.role] = (roles[e.role] ?? 0) + 1;
  assert.equal(roles.stable, served.stable);
  assert.equal(roles.canary, served.canary);
});

test('routing: sticky keys hold for 100 keys, and 10 -> 20 moves only the keys that must move', async (t) => {
  const stable = await startStandIn({ name: 'stable', t });
  const canary = await startStandIn({ name: 'canary', t });
  const { gw } = await startTestGateway(t, {
    models: {
      m: model({ stable: stable.url, canary: canary.url }, { weights: { stable: 90, canary: 10 }, fallback: 'stable', sticky: { header: 'x-user' } }),
    },
  });
  const keys = Array.from({ length: 100 }, (_, i) => `user-${i}`);
  const versionOf = async (k: string) => {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: { k }, headers: { 'x-user': k } });
    assert.equal(r.status, 200);
    assert.equal(r.json.version, r.headers['x-mlgate-version']);
    return String(r.headers['x-mlgate-version']);
  };
  const before = new Map<string, string>();
  for (const k of keys) before.set(k, await versionOf(k));
  for (let round = 0; round < 3; round++) {
    for (const k of keys) assert.equal(await versionOf(k), before.get(k), `key ${k} changed version while weights stayed`);
  }
  assert.ok([...before.values()].includes('stable'));

  const res = await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { stable: 80, canary: 20 }, reason: 'step' });
  assert.equal(res.status, 200, res.text);
  const predicted = new VersionPicker([{ name: 'stable', weight: 80 }, { name: 'canary', weight: 20 }]);
  let moved = 0;
  for (const k of keys) {
    const now = await versionOf(k);
    const was = before.get(k)!;
    if (was === 'canary') assert.equal(now, 'canary', `key ${k} left the canary although its weight rose`);
    if (now !== was) {
      assert.equal(was, 'stable');
      moved++;
    }
    assert.equal(now, predicted.pickSticky(`${k}`), 'the gateway uses the documented rendezvous choice');
  }
  const canaryBefore = [...before.values()].filter((v) => v === 'canary').length;
  const canaryAfter = keys.filter((k) => predicted.pickSticky(k) === 'canary').length;
  assert.equal(moved, canaryAfter - canaryBefore, 'exactly the keys needed to reach the new share moved');
});

test('routing: x-mlgate-version pins a version (role pinned); unknown versions are refused', async (t) => {
  const stable = await startStandIn({ name: 'stable', t });
  const canary = await startStandIn({ name: 'canary', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ stable: stable.url, canary: canary.url }, { weights: { stable: 100, canary: 0 } }) },
  });
  for (let i = 0; i < 5; i++) {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: { i }, headers: { 'x-mlgate-version': 'canary' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.version, 'canary');
    assert.equal(r.headers['x-mlgate-version'], 'canary');
  }
  assert.equal(canary.count, 5);
  assert.equal(canary.requests[0]!.headers['x-mlgate-version'], undefined, 'the pin header is not forwarded');
  const bad = await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-mlgate-version': 'nope' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'MLG_GW_BAD_REQUEST');
  assert.match(bad.json.error.message, /no version nope/);
  await sink.waitFor(6);
  assert.deepEqual(sink.events.slice(0, 5).map((e) => e.role), ['pinned', 'pinned', 'pinned', 'pinned', 'pinned']);
  assert.equal(sink.events[5]!.outcome, 'bad_request');
});

test('routing: responses name the version and the gateway and upstream latencies', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t, delayMs: 20 });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: v1.url }) } });
  const r = await call(`${gw.url}/v1/models/m/anything/deeper?q=1`, { body: { a: 1 } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-mlgate-version'], 'v1');
  const proxy = Number(r.headers['x-mlgate-proxy-latency']);
  const upstream = Number(r.headers['x-mlgate-upstream-latency']);
  assert.ok(Number.isFinite(proxy) && proxy >= 0, `proxy latency ${r.headers['x-mlgate-proxy-latency']}`);
  // libuv counts timers from a loop time cut to whole milliseconds, so the stand-in's 20 ms
  // timer can fire up to 1 ms early against the gateway's clock (CI saw 19.998).
  assert.ok(upstream >= 19, `upstream latency ${upstream} includes the stand-in's 20 ms delay`);
  assert.equal(v1.requests[0]!.path, '/anything/deeper?q=1', 'the /v1/models/{model} prefix is replaced by the target path');
  await sink.waitFor(1);
  assert.equal(r.headers['x-mlgate-event-id'], sink.events[0]!.event_id);
  assert.ok(sink.events[0]!.upstream_latency_ms! >= 20);
});
