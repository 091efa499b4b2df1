/**
 * Input schemas in the request path: a body failing the model's JSON Schema gets 400 naming the
 * schema paths of the failures, never reaches the model (the stand-in counts requests), is
 * counted by reason and gets an event with outcome schema_invalid. A model without a schema is
 * unaffected, and a schema that does not compile stops the start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../../support/upstream.ts';
import { admin, call, gatewayConfig, model, startTestGateway } from '../helpers.ts';
import { startGateway } from '../../../services/gateway/gateway.ts';
import { createHasher } from '../../../services/telemetry/hash.ts';
import { createRedactor } from '../../../services/telemetry/redact.ts';
import { MemorySink } from '../../../services/telemetry/sink.ts';

const SCHEMA = {
  type: 'object',
  required: ['text'],
  properties: { text: { type: 'string', maxLength: 50 }, lang: { enum: ['en', 'de'] } },
  additionalProperties: false,
};

async function waitFor<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a body failing the input schema is refused before the model', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { sentiment: model({ v1: up.url }, { inputSchema: SCHEMA }), free: model({ v1: up.url }) },
  });
  const url = `${gw.url}/v1/models/sentiment/predict`;

  let r = await call(url, { body: { text: 'fine', lang: 'en' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(up.count, 1);

  r = await call(url, { body: { lang: 'fr', extra: 1 } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'MLG_EDGE_SCHEMA_INVALID');
  const paths = (r.json.error.details.errors as Array<{ schemaPath: string; path: string }>).map((e) => e.schemaPath);
  assert.ok(paths.includes('#/required'), `required named: ${paths.join(', ')}`);
  assert.ok(paths.includes('#/properties/lang/enum'), `enum named: ${paths.join(', ')}`);
  assert.ok(paths.includes('#/additionalProperties'), `additionalProperties named: ${paths.join(', ')}`);
  assert.ok(!r.text.includes('fr'), 'the values are not echoed');
  const eventId = r.headers['x-mlgate-event-id'] as string;

  r = await call(url, { body: 'text=hello', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 400, 'a model with a schema takes JSON only');
  assert.equal(r.json.error.code, 'MLG_EDGE_SCHEMA_INVALID');

  r = await call(url, { body: { text: 'x'.repeat(51) } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.details.errors[0].schemaPath, '#/properties/text/maxLength');
  assert.equal(up.count, 1, 'no refused body reached the model');

  r = await call(`${gw.url}/v1/models/free/predict`, { body: { anything: true } });
  assert.equal(r.status, 200, 'a model without a schema takes any body');

  const ev = await waitFor('the refusal event', () => sink.events.find((e) => e.event_id === eventId));
  assert.equal(ev.outcome, 'schema_invalid');
  assert.equal(ev.status, 400);
  assert.equal(ev.model, 'sentiment');
  assert.equal(ev.error_class, 'MLG_EDGE_SCHEMA_INVALID');

  const m = await admin(gw, 'GET', '/metrics');
  const count = (reason: string) => Number(new RegExp(`mlgate_gateway_schema_rejections_total\\{[^}]*model="sentiment",reason="${reason}"[^}]*\\} (\\d+)`).exec(m.text)?.[1] ?? 0);
  assert.equal(count('required'), 1, m.text.split('\n').filter((l) => l.includes('schema_rejections')).join('\n'));
  assert.equal(count('not_json'), 1);
  assert.equal(count('maxLength'), 1);
});

test('a schema that does not compile stops the start with the model name', async () => {
  const config = gatewayConfig({ admin: { enabled: false }, models: { broken: model({ v1: 'http://127.0.0.1:9' }, { inputSchema: { type: 'no-such-type' } }) } });
  await assert.rejects(
    startGateway({ config, sink: new MemorySink(), hasher: createHasher({ key: 'k'.repeat(24), keyId: 'k1' }), redactor: createRedactor({ budgetMs: 60_000, maxChars: 100 }) }),
    (err: Error & { code?: string }) => err.code === 'MLG_EDGE_SETUP' && err.message.includes('broken'),
  );
});
