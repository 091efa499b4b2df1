/**
 * Event content: every event validates against the v1 contract; input hash, redacted input,
 * per-model masks, prediction label and score from configured paths, output hash, consumer id
 * from the edge seam, and storeInput: false.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model, HASH_KEY } from './helpers.ts';
import { validateEvent } from '../../services/telemetry/event.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { GatewayErrors } from '../../services/gateway/errors.ts';

test('events: hashes, redaction, masks and prediction paths', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t, respond: () => ({ predictions: [{ label: 'spam', score: 0.93 }], meta: { ok: true } }) });
  const { gw, sink } = await startTestGateway(t, {
    models: {
      m: model({ v1: v1.url }, {
        prediction: { label: 'predictions[0].label', score: '$.predictions.0.score' },
        redaction: { maskPaths: ['user.ssn'] },
      }),
      quiet: model({ v1: v1.url }, { redaction: { storeInput: false } }),
    },
  });
  const body = { text: 'mail me at jane@example.com', user: { ssn: '123-45-6789', name: 'x' } };
  const r = await call(`${gw.url}/v1/models/m/predict`, { body });
  assert.equal(r.status, 200);
  await call(`${gw.url}/v1/models/quiet/predict`, { body });
  await sink.waitFor(2);
  const [ev, quiet] = sink.events;
  assert.ok(validateEvent(ev).ok);
  const hasher = createHasher({ key: HASH_KEY, keyId: 'k1' });
  assert.equal(ev!.input_hash, hasher.hashValue(body));
  assert.equal(ev!.output_hash, hasher.hashValue(r.json));
  assert.equal(ev!.hash_key_id, 'k1');
  assert.doesNotMatch(ev!.input_redacted, /jane@example\.com|123-45-6789/);
  assert.match(ev!.input_redacted, /<MASKED>/);
  assert.equal(ev!.redactions.MASKED, 1);
  assert.ok((ev!.redactions.EMAIL ?? 0) >= 1);
  assert.equal(ev!.prediction_label, 'spam');
  assert.equal(ev!.prediction_score, 0.93);
  assert.equal(ev!.request_bytes, Buffer.byteLength(JSON.stringify(body)));
  assert.equal(ev!.response_bytes, Buffer.byteLength(r.text));
  assert.equal(quiet!.input_redacted, '');
  assert.deepEqual(quiet!.redactions, {});
  assert.equal(quiet!.input_hash, ev!.input_hash, 'hashes are kept even when the input is not');
});

test('events: the consumer seam fills consumer_id, refuses with its status, and drives stickiness', async (t) => {
  const a = await startStandIn({ name: 'a', t });
  const b = await startStandIn({ name: 'b', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ a: a.url, b: b.url }, { weights: { a: 50, b: 50 }, sticky: 'consumer' }) },
  }, {
    hooks: {
      resolveConsumer: (req) => {
        const key = req.headers['x-api-key'];
        if (typeof key !== 'string') return GatewayErrors.unauthorized('an API key is required');
        return { id: `c-${key}` };
      },
      allowPin: (c) => c.id === 'c-admin',
      stripRequestHeaders: ['x-api-key'],
      errorHeaders: (err) => (err.statusCode === 401 ? { 'WWW-Authenticate': 'ApiKey' } : undefined),
    },
  });
  const denied = await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers['www-authenticate'], 'ApiKey', 'hooks can add headers to refusals');
  // Stickiness, at 50/50: 40 consumers x 5 calls. A random choice would keep all five calls of
  // every consumer on one version with probability (1/16)^40; a choice that ignores the weights
  // (or the key) would send every consumer to the same version with probability 2^-39 here.
  const byConsumer = new Map<string, Set<string>>();
  await Promise.all(Array.from({ length: 40 }, async (_, c) => {
    const seen = new Set<string>();
    byConsumer.set(`k${c}`, seen);
    for (let i = 0; i < 5; i++) seen.add((await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-api-key': `k${c}` } })).json.version);
  }));
  for (const [key, seen] of byConsumer) assert.equal(seen.size, 1, `consumer ${key} saw ${[...seen].join(', ')}`);
  const chosen = [...byConsumer.values()].map((seen) => [...seen][0]);
  assert.ok(chosen.includes('a') && chosen.includes('b'), `40 consumers at 50/50 use both versions: ${chosen.join(',')}`);
  const pin = await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-api-key': 'k7', 'x-mlgate-version': 'a' } });
  assert.equal(pin.status, 403);
  const pinOk = await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-api-key': 'admin', 'x-mlgate-version': 'a' } });
  assert.equal(pinOk.json.version, 'a');
  await sink.waitFor(203);
  const outcomes = sink.events.map((e) => e.outcome);
  assert.equal(outcomes[0], 'unauthorized');
  assert.deepEqual(outcomes.slice(-2), ['forbidden', 'ok']);
  assert.ok(outcomes.slice(1, -2).every((o) => o === 'ok'));
  assert.deepEqual(new Set(sink.events.slice(1, -2).map((e) => e.consumer_id)), new Set(Array.from({ length: 40 }, (_, c) => `c-k${c}`)));
  assert.ok([...a.requests, ...b.requests].every((r) => r.headers['x-api-key'] === undefined), 'the key never goes upstream');
});
