/**
 * Upstream health: active checks take a failing target out and bring it back; passive ejection
 * benches a target that fails requests; a version with no healthy target behaves like an open
 * breaker (fallback, or 503 no_upstream).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { waitUntil } from '../support/infra.ts';
import { startTestGateway, call, admin, model } from './helpers.ts';

const targetsOf = async (gw: Parameters<typeof admin>[0], version = 0) =>
  (await admin(gw, 'GET', '/admin/routing/m')).json.versions[version].targets as Array<{ healthy: boolean; ejected: boolean }>;

test('health: active checks take an unhealthy target out and bring it back', async (t) => {
  const a = await startStandIn({ name: 'a', t });
  const b = await startStandIn({ name: 'b', t });
  const { gw } = await startTestGateway(t, {
    models: { m: model({ v1: [a.url, b.url] }, { versionDefaults: { health: { path: '/healthz', intervalMs: 50, unhealthyThreshold: 1, healthyThreshold: 1 } } }) },
  });
  await waitUntil('health checks to run', () => a.healthChecks > 0 && b.healthChecks > 0);
  a.set({ healthy: false });
  await waitUntil('target a to be marked unhealthy', async () => (await targetsOf(gw))[0]!.healthy === false);
  a.clear();
  for (let i = 0; i < 10; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).json.version, 'b');
  assert.equal(a.count, 0);
  a.set({ healthy: true });
  await waitUntil('target a to be healthy again', async () => (await targetsOf(gw))[0]!.healthy === true);
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).json.version);
  assert.deepEqual([...seen].sort(), ['a', 'b']);
});

test('health: a version with no healthy target goes to the fallback, else 503 no_upstream', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const fb = await startStandIn({ name: 'fb', t });
  const health = { health: { path: '/healthz', intervalMs: 50, unhealthyThreshold: 1 } };
  const { gw, sink } = await startTestGateway(t, {
    models: {
      m: model({ v1: v1.url, fb: fb.url }, { weights: { v1: 100, fb: 0 }, fallback: 'fb', versionDefaults: health }),
      solo: model({ v1: v1.url }, { versionDefaults: health }),
    },
  });
  v1.set({ healthy: false });
  await waitUntil('v1 to be unhealthy', async () => (await targetsOf(gw))[0]!.healthy === false);
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  assert.equal(r.status, 200);
  assert.equal(r.json.version, 'fb');
  await waitUntil('solo v1 to be unhealthy', async () => (await admin(gw, 'GET', '/admin/routing/solo')).json.versions[0].available === 'no_upstream');
  const s = await call(`${gw.url}/v1/models/solo/predict`, { body: {} });
  assert.equal(s.status, 503);
  assert.equal(s.json.error.code, 'MLG_GW_NO_UPSTREAM');
  await sink.waitFor(2);
  assert.deepEqual(sink.events.map((e) => [e.role, e.outcome]), [['fallback', 'ok'], ['stable', 'no_upstream']]);
});

test('health: passive ejection benches a target that keeps failing', async (t) => {
  const good = await startStandIn({ name: 'good', t });
  const bad = await startStandIn({ name: 'bad', t, errorRate: 1, errorStatus: 500 });
  const { gw } = await startTestGateway(t, {
    models: { m: model({ v1: [bad.url, good.url] }, { versionDefaults: { ejection: { consecutiveFailures: 2, ejectMs: 60_000 }, breaker: { enabled: false } } }) },
  });
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).status);
  assert.equal(bad.count, 2, 'two failures in a row, then it sits out');
  assert.deepEqual(statuses.filter((s) => s === 500).length, 2);
  assert.equal((await targetsOf(gw))[0]!.ejected, true);
});
