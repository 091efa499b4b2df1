/**
 * Events built in the telemetry worker thread are the same as events built inline, and a worker
 * that cannot be trusted (different key) is dropped for inline building without losing events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model, HASH_KEY } from './helpers.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { validateEvent } from '../../services/telemetry/event.ts';

const STABLE_FIELDS = ['route', 'model', 'version', 'role', 'status', 'outcome', 'input_hash', 'output_hash', 'hash_key_id', 'input_redacted', 'redactions', 'prediction_label', 'prediction_score', 'tokens_in', 'tokens_out', 'request_bytes', 'response_bytes'] as const;
const pick = (e: TelemetryEvent) => Object.fromEntries(STABLE_FIELDS.map((k) => [k, e[k]]));

async function traffic(url: string): Promise<void> {
  await call(`${url}/v1/models/m/predict`, { body: { text: 'mail jane@example.com', user: { ssn: '123-45-6789' } } });
  await call(`${url}/v1/models/m/predict`, { body: 'plain text body', headers: { 'content-type': 'text/plain' } });
  await call(`${url}/v1/chat/completions`, { body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] } });
  await call(`${url}/v1/models/m/predict`, { body: '{"broken":', headers: { 'content-type': 'application/json' } });
}

test('event worker: events built in the worker equal events built inline', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t, respond: () => ({ label: 'spam', score: 0.7 }) });
  const m = model({ v1: v1.url }, { prediction: { label: 'label', score: 'score' }, redaction: { maskPaths: ['user.ssn'] } });
  const worker = await startTestGateway(t, { eventWorker: true, models: { m } }, { eventWorker: { hasher: { key: HASH_KEY, keyId: 'k1' }, redactor: { maxChars: 2048 } } });
  const inline = await startTestGateway(t, { eventWorker: false, models: { m } }, { eventWorker: { hasher: { key: HASH_KEY, keyId: 'k1' }, redactor: { maxChars: 2048 } } });
  await traffic(worker.gw.url);
  await traffic(inline.gw.url);
  await worker.sink.waitFor(4);
  await inline.sink.waitFor(4);
  assert.equal(worker.sink.events.length, 4);
  for (let i = 0; i < 4; i++) {
    assert.ok(validateEvent(worker.sink.events[i]).ok);
    assert.deepEqual(pick(worker.sink.events[i]!), pick(inline.sink.events[i]!), `event ${i}`);
  }
  assert.ok(/mlgate_gateway_event_worker\{[^}]*\} 1/.test(await (await fetch(worker.gw.metricsUrl)).text()), 'the worker built them');
  assert.ok(/mlgate_gateway_event_worker\{[^}]*\} 0/.test(await (await fetch(inline.gw.metricsUrl)).text()));
  assert.equal(worker.sink.events[0]!.prediction_label, 'spam');
  assert.equal(worker.sink.events[2]!.tokens_out, 5);
  assert.match(worker.sink.events[0]!.input_redacted, /<MASKED>/);
});

test('event worker: a worker with another key is dropped and events are built inline', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { eventWorker: true, models: { m: model({ v1: v1.url }) } }, {
    eventWorker: { hasher: { key: 'a-different-key-0123456789', keyId: 'k1' }, redactor: { maxChars: 2048 } },
  });
  for (let i = 0; i < 20; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: { i } })).status, 200);
  await sink.waitFor(20);
  const { createHasher } = await import('../../services/telemetry/hash.ts');
  const h = createHasher({ key: HASH_KEY, keyId: 'k1' });
  for (let i = 0; i < 20; i++) assert.equal(sink.events[i]!.input_hash, h.hashValue({ i }), `event ${i} is hashed with the gateway's key`);
  assert.ok(/mlgate_gateway_event_worker\{[^}]*\} 0/.test(await (await fetch(gw.metricsUrl)).text()), 'the worker is no longer used');
});
