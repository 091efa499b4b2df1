/**
 * Errors: malformed JSON 400, too large 413, unknown model 404, timeout 504, refused or reset
 * 502, and connection-error retries on another target. Each still produces its event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model } from './helpers.ts';

test('errors: malformed JSON is a 400 naming the problem', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: v1.url }) } });
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: '{"text": "unterminated', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'MLG_GW_BAD_JSON');
  assert.match(r.json.error.message, /not valid JSON: .+/);
  assert.equal(v1.count, 0);
  await sink.waitFor(1);
  assert.equal(sink.events[0]!.outcome, 'bad_request');
  assert.equal(sink.events[0]!.status, 400);
  assert.equal(sink.events[0]!.error_class, 'MLG_GW_BAD_JSON');
  // non-JSON bodies pass through untouched
  const plain = await call(`${gw.url}/v1/models/m/predict`, { body: 'just text', headers: { 'content-type': 'text/plain' } });
  assert.equal(plain.status, 200);
  assert.equal(v1.requests[0]!.body.toString(), 'just text');
});

test('errors: bodies over the gateway or model limit get 413 with an event', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, {
    maxBodyBytes: 1000,
    models: { m: model({ v1: v1.url }), small: model({ v1: v1.url }, { maxBodyBytes: 100 }) },
  });
  const big = await call(`${gw.url}/v1/models/m/predict`, { body: { x: 'a'.repeat(2000) } });
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, 'MLG_GW_BODY_TOO_LARGE');
  const small = await call(`${gw.url}/v1/models/small/predict`, { body: { x: 'a'.repeat(500) } });
  assert.equal(small.status, 413);
  assert.match(small.json.error.message, /100-byte limit of model small/);
  assert.equal(v1.count, 0);
  await sink.waitFor(2);
  assert.deepEqual(sink.events.map((e) => [e.model, e.outcome, e.status]), [['m', 'payload_too_large', 413], ['small', 'payload_too_large', 413]]);
});

test('errors: unknown model 404 and unknown route 404, each with an event', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: v1.url }) } });
  const r = await call(`${gw.url}/v1/models/nope/predict`, { body: {} });
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'MLG_GW_UNKNOWN_MODEL');
  const r2 = await call(`${gw.url}/v2/whatever`, { body: {} });
  assert.equal(r2.status, 404);
  assert.equal(r2.json.error.code, 'MLG_GW_NOT_FOUND');
  await sink.waitFor(2);
  assert.deepEqual(sink.events.map((e) => [e.model, e.route, e.outcome]), [
    ['unknown', '/v1/models/{model}/predict', 'not_found'], ['unknown', 'unmatched', 'not_found'],
  ], 'client-chosen names and paths are not stored');
  const text = await (await fetch(gw.metricsUrl)).text();
  assert.doesNotMatch(text, /model="nope"/, 'client-chosen model names never become metric labels');
});

test('errors: upstream timeout is a 504 with outcome timeout', async (t) => {
  const slow = await startStandIn({ name: 'slow', t, delayMs: 3000 });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: slow.url }, { versionDefaults: { timeoutMs: 150 } }) } });
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: { a: 1 } });
  assert.equal(r.status, 504);
  assert.equal(r.json.error.code, 'MLG_GW_UPSTREAM_TIMEOUT');
  assert.equal(r.headers['x-mlgate-version'], 'v1');
  await sink.waitFor(1);
  assert.deepEqual([sink.events[0]!.outcome, sink.events[0]!.status, sink.events[0]!.version], ['timeout', 504, 'v1']);
});

test('errors: refused and reset connections are 502 with outcome upstream_error', async (t) => {
  const dead = await startStandIn({ name: 'dead', t });
  const resets = await startStandIn({ name: 'resets', t, reset: true });
  await dead.kill();
  const { gw, sink } = await startTestGateway(t, {
    models: { a: model({ v1: dead.url }), b: model({ v1: resets.url }) },
  });
  const r1 = await call(`${gw.url}/v1/models/a/predict`, { body: {} });
  assert.equal(r1.status, 502);
  assert.equal(r1.json.error.code, 'MLG_GW_UPSTREAM_ERROR');
  assert.match(r1.json.error.message, /ECONNREFUSED/);
  const r2 = await call(`${gw.url}/v1/models/b/predict`, { body: {} });
  assert.equal(r2.status, 502);
  await sink.waitFor(2);
  assert.deepEqual(sink.events.map((e) => e.outcome), ['upstream_error', 'upstream_error']);
  assert.ok(resets.count >= 1);
});

test('errors: a connection error is retried on another target; an upstream 500 is not retried', async (t) => {
  const up = await startStandIn({ name: 'up', t });
  const down = await startStandIn({ name: 'down', t });
  await down.kill();
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ v1: [down.url, up.url] }, { versionDefaults: { retries: 1, ejection: { consecutiveFailures: 0 } } }) },
  });
  for (let i = 0; i < 6; i++) {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body: { i } });
    assert.equal(r.status, 200, `request ${i}`);
  }
  assert.equal(up.count, 6);
  const metrics = await (await fetch(gw.metricsUrl)).text();
  assert.match(metrics, /mlgate_gateway_upstream_retries_total\{model="m",version="v1"[^}]*\} 6/);
  up.set({ errorRate: 1, errorStatus: 500 });
  up.clear();
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  assert.equal(r.status, 500, 'the upstream status is passed through');
  assert.ok(up.count <= 1, 'a response is never retried');
  await sink.waitFor(7);
  assert.deepEqual([sink.events[6]!.outcome, sink.events[6]!.error_class], ['upstream_error', 'http_500']);
});

test('errors: an answer with a header the gateway cannot relay is a 502, and the gateway keeps serving', async (t) => {
  const { createServer } = await import('node:net');
  const raw = createServer((sock) => {
    sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nx-bad: a\u0001b\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => raw.close(() => r())));
  const good = await startStandIn({ name: 'good', t });
  const port = (raw.address() as { port: number }).port;
  const { gw, sink } = await startTestGateway(t, { models: { bad: model({ v1: `http://127.0.0.1:${port}` }, { versionDefaults: { retries: 0 } }), ok: model({ v1: good.url }) } });
  const r = await call(`${gw.url}/v1/models/bad/predict`, { body: {} });
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'MLG_GW_UPSTREAM_ERROR');
  assert.equal((await call(`${gw.url}/v1/models/ok/predict`, { body: {} })).status, 200);
  await sink.waitFor(2);
  assert.equal(sink.events[0]!.outcome, 'upstream_error');
});
