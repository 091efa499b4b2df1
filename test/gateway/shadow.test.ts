/**
 * Shadow traffic: a copy goes to the shadow version off the client's path, its answer is
 * discarded, and it gets its own event (role shadow, correlation_id = the primary's event_id).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { waitUntil } from '../support/infra.ts';
import { startTestGateway, call, model } from './helpers.ts';

test('shadow: a copy reaches the shadow version, its answer is discarded, its event is correlated', async (t) => {
  const stable = await startStandIn({ name: 'stable', t });
  const shadow = await startStandIn({ name: 'shadow', t, mode: 'chunked', chunks: 2, holdStream: true });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ stable: stable.url, next: shadow.url }, { weights: { stable: 100, next: 0 }, shadow: { version: 'next', percent: 100 } }) },
  });
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: { text: 'hello' }, headers: { 'x-custom': 'kept' } });
  // The client has its full answer from the primary while the shadow's answer is still held.
  assert.equal(r.status, 200);
  assert.equal(r.json.version, 'stable');
  await waitUntil('the shadow copy to arrive', () => shadow.count === 1);
  assert.equal(shadow.streamsFinished, 0, 'the shadow answer is not finished, yet the client is done');
  const copy = shadow.requests[0]!;
  assert.deepEqual(copy.json, { text: 'hello' });
  assert.equal(copy.headers['x-mlgate-shadow'], '1');
  assert.equal(copy.headers['x-custom'], 'kept');
  await sink.waitFor(1);
  const primary = sink.events[0]!;
  assert.equal(primary.role, 'stable');
  shadow.release();
  await sink.waitFor(2);
  const sh = sink.events[1]!;
  assert.equal(sh.role, 'shadow');
  assert.equal(sh.version, 'next');
  assert.equal(sh.correlation_id, primary.event_id);
  assert.notEqual(sh.event_id, primary.event_id);
  assert.equal(sh.input_hash, primary.input_hash);
  assert.equal(sh.trace_id, primary.trace_id);
  assert.notEqual(sh.span_id, primary.span_id);
  assert.equal(sh.outcome, 'ok');
  assert.ok(sh.response_bytes > 0);
});

test('shadow: a failing shadow never affects the client; pinned requests get no copy', async (t) => {
  const stable = await startStandIn({ name: 'stable', t });
  const shadow = await startStandIn({ name: 'shadow', t });
  await shadow.kill();
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ stable: stable.url, next: shadow.url }, { weights: { stable: 100, next: 0 }, shadow: { version: 'next', percent: 100 }, versionDefaults: { retries: 0 } }) },
  });
  for (let i = 0; i < 3; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: { i } })).status, 200);
  await sink.waitFor(6);
  const shadows = sink.events.filter((e) => e.role === 'shadow');
  assert.equal(shadows.length, 3);
  assert.ok(shadows.every((e) => e.outcome === 'upstream_error'));
  const n = sink.events.length;
  const pinned = await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-mlgate-version': 'stable' } });
  assert.equal(pinned.status, 200);
  await sink.waitFor(n + 1);
  // wait a little for a copy that should not come: a second request's events arrive after it
  await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-mlgate-version': 'stable' } });
  await sink.waitFor(n + 2);
  assert.deepEqual(sink.events.slice(n).map((e) => e.role), ['pinned', 'pinned']);
});
