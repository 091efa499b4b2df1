/**
 * Events built in the telemetry thread (the sink's thread, `eventWorker` on) are the events the
 * request thread builds: JSON, plain text, an SSE stream (its usage from the tail), broken JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model, threadedSink } from './helpers.ts';

const STABLE_FIELDS = ['route', 'model', 'version', 'role', 'status', 'outcome', 'input_hash', 'output_hash', 'hash_key_id', 'input_redacted', 'redactions', 'prediction_label', 'prediction_score', 'tokens_in', 'tokens_out', 'request_bytes', 'response_bytes'] as const;
const pick = (e: TelemetryEvent) => Object.fromEntries(STABLE_FIELDS.map((k) => [k, e[k]]));

async function traffic(url: string): Promise<void> {
  await call(`${url}/v1/models/m/predict`, { body: { text: 'mail jane@example.com', user: { ssn: '123-45-6789' } } });
  await call(`${url}/v1/models/m/predict`, { body: 'plain text body', headers: { 'content-type': 'text/plain' } });
  await call(`${url}/v1/chat/completions`, { body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] } });
  await call(`${url}/v1/models/m/predict`, { body: '{"broken":', headers: { 'content-type': 'application/json' } });
}

test('telemetry thread: events built in the sink\'s thread equal events built on the request thread', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t, respond: () => ({ label: 'spam', score: 0.7 }) });
  const m = model({ v1: v1.url }, { prediction: { label: 'label', score: 'score' }, redaction: { maskPaths: ['user.ssn'] } });
  const thread = await threadedSink(t);
  const threaded = await startTestGateway(t, { models: { m } }, { sink: thread.sink });
  const inline = await startTestGateway(t, { eventWorker: false, models: { m } });
  await traffic(threaded.gw.url);
  await traffic(inline.gw.url);
  await inline.sink.waitFor(4);
  assert.ok(/mlgate_gateway_event_worker\{[^}]*\} 1/.test(await (await fetch(threaded.gw.metricsUrl)).text()), 'the thread builds them');
  await threaded.gw.close();
  const events = await thread.events();
  const sink = thread.sink;
  assert.equal(events.length, 4);
  assert.equal(sink.builtHere, 0, 'all four built in the thread');
  for (let i = 0; i < 4; i++) assert.deepEqual(pick(events[i]!), pick(inline.sink.events[i]!), `event ${i}`);
  assert.equal(events[0]!.prediction_label, 'spam');
  assert.equal(events[2]!.tokens_out, 5, 'the stream\'s usage, read from its tail');
  assert.match(events[0]!.input_redacted, /<MASKED>/);
  assert.ok(/mlgate_gateway_event_worker\{[^}]*\} 0/.test(await (await fetch(inline.gw.metricsUrl)).text()));
});
