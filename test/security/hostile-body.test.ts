/**
 * Hostile bodies through the running gateway: bodies built to make redaction slow must not hold
 * up other requests (the old JWT detector froze the process for seconds on one unauthenticated
 * 100 kB POST), and disguised PII sent by a client must not reach the event the sink receives.
 * The same classes through the whole pipeline (local log, ClickHouse) are in pii-pipeline.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model } from '../gateway/helpers.ts';
import { GatewayErrors } from '../../services/gateway/errors.ts';
import { fold } from '../../services/telemetry/text-fold.ts';
import { ADVERSARIAL_FRAGMENTS, repeatTo } from './adversarial-text.ts';

const MiB = 1 << 20;

/** A gateway whose only consumer presents `x-api-key: good`, with a pool for normal and one for hostile requests. */
async function guardedGateway(t: TestContext) {
  const up = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { maxBodyBytes: 2 * MiB, models: { m: model({ v1: up.url }) } }, {
    hooks: {
      resolveConsumer: (req) => (req.headers['x-api-key'] === 'good' ? { id: 'c-good' } : GatewayErrors.unauthorized('an API key is required')),
    },
  });
  const normal = new Pool(gw.url, { connections: 4 });
  const hostile = new Pool(gw.url, { connections: 2 });
  t.after(() => Promise.all([normal.close(), hostile.close()]));
  return { url: `${gw.url}/v1/models/m/predict`, sink, normal, hostile };
}

/** Normal authenticated requests one after another until stopped, each latency recorded. */
function normalLoad(url: string, normal: Pool): { latencies: number[]; stop: () => Promise<void> } {
  let stopped = false;
  const latencies: number[] = [];
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      const r = await call(url, { body: { text: 'hello there' }, headers: { 'x-api-key': 'good' }, dispatcher: normal });
      latencies.push(performance.now() - t0);
      assert.equal(r.status, 200);
    }
  })();
  return { latencies, stop: async () => { stopped = true; await loop; } };
}

test('hostile 1 MiB bodies (sent without a credential) do not hold up other requests, and their events are bounded', async (t) => {
  const { url, sink, normal, hostile } = await guardedGateway(t);

  const hostileBodies: Array<[string, string]> = [];
  for (const name of ['jwt-restarts', 'jwt-dots', 'pem-begins', 'card-digits', 'email-locals', 'full-width', 'quoted-pairs']) {
    const fragment = ADVERSARIAL_FRAGMENTS[name]!;
    const s = repeatTo(fragment, Math.floor((MiB - 64) * fragment.length / Buffer.byteLength(fragment))) + '.aaaaa.aaaaa';
    hostileBodies.push(['text/plain', s], ['application/json', JSON.stringify({ text: s })]);
  }

  const { latencies, stop: stopLoad } = normalLoad(url, normal);
  // Let the normal load run alone first, so the events of both kinds interleave.
  while (latencies.length < 20) await new Promise((resolve) => setImmediate(resolve));
  const statuses: number[] = [];
  for (const [ct, body] of hostileBodies) {
    const r = await call(url, { body, headers: { 'content-type': ct }, dispatcher: hostile });
    statuses.push(r.status);
  }
  const during = latencies.length;
  while (latencies.length < during + 20) await new Promise((resolve) => setImmediate(resolve));
  await stopLoad();

  assert.deepEqual(new Set(statuses), new Set([401]), 'every hostile body was answered (401: no credential)');
  const worst = Math.max(...latencies);
  // Generous on purpose (shared 2-core machine): before the fix one such body stalled the
  // process for many seconds; now building its event costs a few milliseconds.
  assert.ok(worst < 2000, `a normal request waited ${worst.toFixed(0)} ms while hostile bodies arrived`);

  await sink.waitFor(latencies.length + hostileBodies.length, 30_000);
  const hostileEvents = sink.events.filter((e) => e.status === 401);
  assert.equal(hostileEvents.length, hostileBodies.length, 'each hostile request has its event');
  for (const e of hostileEvents) {
    assert.ok(e.input_redacted.length <= 2048, `stored input is bounded (${e.input_redacted.length})`);
    assert.ok(e.input_hash.length === 64, 'the payload is still identified by its hash');
    assert.ok(e.redactions.TRUNCATED === 1 || Object.keys(e.redactions).length > 0, `the cut is marked: ${JSON.stringify(e.redactions)}`);
  }
});

test('disguised PII sent through the gateway is absent from the events, whatever the content type', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ v1: up.url }, { redaction: { maskPaths: ['customer.note'] } }) },
  });
  const planted = ['ann.smith@example.com', '4111111111111111', 'hunter2pass', 'private note 77'];
  const bodies: Array<[string | undefined, string]> = [
    ['application/json', JSON.stringify({ text: 'mail ann\u200b.smith@exam\u00adple.com', card: '４１１１ １１１１ １１１１ １１１１', user_password: 'hunter2pass', customer: { note: 'private note 77' } })],
    ['Application/JSON', JSON.stringify({ text: 'ann.smith＠example.com', n: -4111111111111111, newPassword: 'hunter2pass', customer: { note: 'private note 77' } })],
    ['application/vnd.api+json', JSON.stringify({ data: { text: '4111.1111.1111.1111', client_secret: 'hunter2pass', mail: 'ann.smith\ufeff@example.com' }, customer: { note: 'private note 77' } })],
    ['text/plain', JSON.stringify({ text: '4111\u00a01111\u00a01111\u00a01111', refreshToken: 'hunter2pass', to: 'ann.smith@example.com', customer: { note: 'private note 77' } })],
    [undefined, JSON.stringify({ text: '4111\u20091111\u20091111\u20091111 ann.smith@example.com', apiKey: 'hunter2pass', customer: { note: 'private note 77' } })],
    ['application/x-www-form-urlencoded', 'email=ann.smith%40example.com&user_password=hunter2pass&card=4111+1111+1111+1111'],
    ['text/plain', 'user=ann.smith\u2060@example.com password: hunter2pass card 4111-1111-1111-1111'],
  ];
  for (const [ct, body] of bodies) {
    const r = await call(`${gw.url}/v1/models/m/predict`, { body, headers: ct ? { 'content-type': ct } : {} });
    assert.equal(r.status, 200);
  }
  await sink.waitFor(bodies.length);
  for (const [i, e] of sink.events.entries()) {
    const stored = fold(JSON.stringify(e)).text;
    for (const p of planted) assert.ok(!stored.includes(p) && !stored.replace(/\D/g, '').includes('4111111111111111'), `body ${i} (${bodies[i]![0]}): ${p} reached the event: ${e.input_redacted}`);
    assert.ok(Object.keys(e.redactions).length > 0, `body ${i}: redactions counted`);
  }
});

test('JSON nesting bombs: a declared-JSON body nested 500,000 deep is refused with 400 naming the limit, a text one is kept as text; every request keeps its event and normal requests are not held up', async (t) => {
  const { url, sink, normal, hostile } = await guardedGateway(t);
  const n = (MiB - 64) >> 1;
  const bomb = '['.repeat(n) + ']'.repeat(n);
  const objectBomb = '{"a":'.repeat(n / 5) + '1' + '}'.repeat(n / 5);

  const { latencies, stop: stopLoad } = normalLoad(url, normal);
  while (latencies.length < 20) await new Promise((resolve) => setImmediate(resolve));
  const sent: Array<[string, Record<string, string>, number, RegExp | undefined]> = [
    [bomb, { 'content-type': 'application/json', 'x-api-key': 'good' }, 400, /nested deeper than 128 levels/],
    [objectBomb, { 'content-type': 'application/json', 'x-api-key': 'good' }, 400, /nested deeper than 128 levels/],
    [bomb, { 'content-type': 'text/plain', 'x-api-key': 'good' }, 200, undefined],
    // The body is read before the credential (the OpenAI routes name their model in it): refused as JSON first.
    [bomb, { 'content-type': 'application/json' }, 400, /nested deeper than 128 levels/],
    [objectBomb, { 'content-type': 'text/plain' }, 401, undefined],
  ];
  for (const [body, headers, status, message] of sent) {
    const r = await call(url, { body, headers, dispatcher: hostile });
    assert.equal(r.status, status, `${headers['content-type']}: ${r.text.slice(0, 200)}`);
    if (message) {
      assert.equal((r.json as { error?: { code?: string } }).error?.code, 'MLG_GW_BAD_JSON', r.text.slice(0, 200));
      assert.match(r.text, message);
    }
  }
  const during = latencies.length;
  while (latencies.length < during + 20) await new Promise((resolve) => setImmediate(resolve));
  await stopLoad();
  const worst = Math.max(...latencies);
  // Generous (shared machine): before the bound, each bomb cost about a second of the event
  // loop (JSON.parse twice, then a canonical hash that overflowed the stack).
  assert.ok(worst < 2000, `a normal request waited ${worst.toFixed(0)} ms while nesting bombs arrived`);

  await sink.waitFor(latencies.length + sent.length, 30_000);
  const bombs = sink.events.filter((e) => e.request_bytes > 100_000);
  assert.equal(bombs.length, sent.length, 'each bomb has its event (none lost to a stack overflow)');
  for (const e of bombs) {
    assert.equal(e.input_hash.length, 64, 'identified by the hash of its bytes');
    assert.ok(e.input_redacted.length <= 2048);
  }
});
