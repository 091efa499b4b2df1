/**
 * Breakers and fallback over real sockets: a killed upstream opens its version's breaker and its
 * share goes to the fallback; without a fallback the client gets a clear 503; a tripped version's
 * share goes to the fallback; half-open probes close the breaker once the upstream is back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { waitUntil } from '../support/infra.ts';
import { startTestGateway, call, admin, model } from './helpers.ts';

const fastBreaker = { breaker: { minRequests: 4, failureRatio: 0.5, openMs: 60_000, halfOpenProbes: 1 }, retries: 0, ejection: { consecutiveFailures: 0 } };

test('breaker: a killed upstream opens the breaker and traffic shifts to the fallback', async (t) => {
  const stable = await startStandIn({ name: 'stable', t });
  const canary = await startStandIn({ name: 'canary', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ stable: stable.url, canary: canary.url }, { weights: { stable: 50, canary: 50 }, fallback: 'stable', versionDefaults: fastBreaker }) },
  });
  for (let i = 0; i < 10; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: { i } })).status, 200);
  await canary.kill();
  await waitUntil('the canary breaker to open', async () => {
    await call(`${gw.url}/v1/models/m/predict`, { body: {} });
    const r = await admin(gw, 'GET', '/admin/routing/m');
    return r.json.versions.find((v: { name: string }) => v.name === 'canary').breaker === 'open';
  }, 10_000, 1);
  const metrics = await (await fetch(gw.metricsUrl)).text();
  assert.match(metrics, /mlgate_gateway_breaker_state\{model="m",version="canary"[^}]*\} 2/);
  const n0 = sink.events.length;
  const served: Record<string, number> = {};
  for (let i = 0; i < 40; i++) {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: { i } });
    assert.equal(r.status, 200, 'every request is served while the canary is down');
    assert.equal(r.json.version, 'stable');
    served[r.headers['x-mlgate-version'] as string] = (served[r.headers['x-mlgate-version'] as string] ?? 0) + 1;
  }
  assert.deepEqual(served, { stable: 40 });
  await sink.waitFor(n0 + 40);
  const roles = sink.events.slice(n0).map((e) => e.role);
  assert.ok(roles.includes('fallback'), 'the canary share is served by the fallback');
  assert.ok(roles.includes('stable'));
  assert.ok(!roles.includes('canary'));
  assert.ok(sink.events.some((e) => e.version === 'canary' && e.outcome === 'upstream_error'), 'the failures that opened it were recorded');
});

test('breaker: without a fallback an open breaker answers 503 with a clear body', async (t) => {
  const only = await startStandIn({ name: 'only', t });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: only.url }, { versionDefaults: fastBreaker }) } });
  await only.kill();
  let last;
  for (let i = 0; i < 6; i++) last = await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  assert.equal(last!.status, 503);
  assert.equal(last!.json.error.code, 'MLG_GW_CIRCUIT_OPEN');
  assert.match(last!.json.error.message, /version v1 of model m has its circuit breaker open after too many upstream failures \(probes in \d+ s\), and it has no fallback/);
  assert.ok(Number(last!.headers['retry-after']) >= 1, 'a gateway 503 says when to retry');
  assert.equal(last!.headers['retry-after'], String(last!.json.error.details.retry_after_s));
  await sink.waitFor(6);
  assert.equal(sink.events[5]!.outcome, 'circuit_open');
  assert.equal(sink.events[0]!.outcome, 'upstream_error');
});

test('breaker: half-open probes close it again once the upstream is back', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const fb = await startStandIn({ name: 'fb', t });
  const { gw } = await startTestGateway(t, {
    models: {
      m: model({ v1: v1.url, fb: fb.url }, {
        weights: { v1: 100, fb: 0 }, fallback: 'fb',
        versionDefaults: { ...fastBreaker, breaker: { ...fastBreaker.breaker, openMs: 200 } },
      }),
    },
  });
  await v1.kill();
  await waitUntil('the breaker to open', async () => {
    await call(`${gw.url}/v1/models/m/predict`, { body: {} });
    return (await admin(gw, 'GET', '/admin/routing/m')).json.versions[0].breaker === 'open';
  }, 10_000, 1);
  assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).json.version, 'fb');
  await v1.restart();
  const back = await waitUntil('v1 to serve again after a successful probe', async () => {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: {} });
    return r.json?.version === 'v1' ? r : undefined;
  }, 10_000, 50);
  assert.equal(back.status, 200);
  assert.equal((await admin(gw, 'GET', '/admin/routing/m')).json.versions[0].breaker, 'closed');
});

test('breaker: a tripped version sends its share to the fallback until reset', async (t) => {
  const stable = await startStandIn({ name: 'stable', t });
  const canary = await startStandIn({ name: 'canary', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ stable: stable.url, canary: canary.url }, { weights: { stable: 0, canary: 100 }, fallback: 'stable' }) },
  });
  assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).json.version, 'canary');
  const trip = await admin(gw, 'POST', '/admin/models/m/versions/canary/trip', { reason: 'bad answers' });
  assert.equal(trip.status, 200, trip.text);
  for (let i = 0; i < 5; i++) {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: {} });
    assert.equal(r.json.version, 'stable');
  }
  const reset = await admin(gw, 'POST', '/admin/models/m/versions/canary/reset', {});
  assert.equal(reset.status, 200);
  assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).json.version, 'canary');
  await sink.waitFor(7);
  assert.deepEqual(sink.events.map((e) => e.role), ['canary', 'fallback', 'fallback', 'fallback', 'fallback', 'fallback', 'canary']);
});
