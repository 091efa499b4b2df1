/**
 * The telemetry stage with the sink in the telemetry thread (ThreadedSink, local log): exchanges go
 * whole through the shared ring (wrapping around it many times) and come out as the events the
 * request thread would build; a record too big for the ring is built here and still written;
 * a parked thread is woken by the next record.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TelemetryStage } from '../../services/telemetry/event-stage.ts';
import { Exchange, ResponseCapture } from '../../services/gateway/proxy/exchange-record.ts';
import { buildEvent } from '../../services/telemetry/event-builder.ts';
import { recordOf } from '../../services/gateway/observability/event-record.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { createLogger } from '../../services/core/log.ts';
import type { ThreadedSink } from '../../services/telemetry/threaded-sink.ts';
import type { ModelConfig } from '../../services/gateway/config.ts';
import { HASH_KEY, TEST_REDACTION, threadedSink } from '../gateway/helpers.ts';

const hasherOpts = { key: HASH_KEY, keyId: 'k1' };
const redactorOpts = TEST_REDACTION; // compared across threads: no budget cut on a loaded host
const hasher = createHasher(hasherOpts);
const redactor = createRedactor(redactorOpts);
const logger = createLogger({ service: 'test', level: 'silent' });
const modelA = { prediction: { label: 'label', score: 'score' }, redaction: { storeInput: true, maskPaths: ['user.ssn'] } } as unknown as ModelConfig;
const modelB = { prediction: { label: 'out.0.name' } } as unknown as ModelConfig;

/** A finished exchange with a JSON request and answer of about `pad` extra bytes each. */
function exchange(i: number, pad = 0, model = i % 2 ? modelA : modelB): Exchange {
  const x = new Exchange(`00000000-0000-7000-8000-${String(i).padStart(12, '0')}`, 1_790_000_000_000 + i, performance.now());
  const reqBody = { text: `mail jane${i}@example.com ${'x'.repeat(pad)}`, user: { ssn: '123-45-6789' }, i };
  const answer = { label: i % 3 ? 'spam' : 'ham', score: i / 1000, out: [{ name: `n${i}` }], filler: 'y'.repeat(pad) };
  x.route = '/v1/models/m/predict';
  x.method = 'POST';
  x.model = 'm';
  x.version = 'v1';
  x.status = 200;
  x.requestBody = Buffer.from(JSON.stringify(reqBody));
  x.requestBytes = x.requestBody.length;
  x.requestContentType = i % 5 === 0 ? 'text/plain' : 'application/json';
  if (x.requestContentType === 'application/json') x.requestJson = reqBody;
  x.responseContentType = 'application/json; charset=utf-8';
  x.capture = new ResponseCapture(8 << 20);
  const out = Buffer.from(JSON.stringify(answer));
  x.capture.add(out);
  x.responseBytes = out.length;
  x.modelConfig = model;
  x.tEnd = x.t0 + 1;
  return x;
}

/** The event the same exchange gives when built in this thread. */
const expected = (x: Exchange): TelemetryEvent => buildEvent(recordOf(x), { hasher, redactor, gatewayId: 'gw-test', paths: new Map() });

interface Setup {
  stage: TelemetryStage;
  sink: ThreadedSink;
  /** Drains the stage, flushes and reads every event in the log. */
  events(): Promise<TelemetryEvent[]>;
}

async function setup(t: TestContext, ringBytes?: number): Promise<Setup> {
  const thread = await threadedSink(t, { ringBytes });
  const stage = new TelemetryStage({ sink: thread.sink, hasher, redactor, gatewayId: 'gw-test', logger });
  return { stage, sink: thread.sink, events: async () => { await stage.drain(); return thread.events(); } };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('telemetry stage: 3,000 exchanges through a 64 KiB ring (wrapping ~45 times) become the events the request thread builds', async (t) => {
  const { stage, sink, events } = await setup(t, 64 * 1024);
  const xs: Exchange[] = [];
  for (let i = 1; i <= 3000; i++) {
    const x = exchange(i, (i * 37) % 900);
    xs.push(x);
    stage.submit(recordOf(x));
    if (i % 20 === 0) await until('the thread to keep up', () => stage.backlog < 20); // ~20 KiB in the ring at most
  }
  const got = await events();
  assert.equal(got.length, 3000);
  assert.equal(sink.builtHere + stage.builtHere, 0, 'none had to be built on the request thread');
  const byId = new Map(got.map((e) => [e.event_id, e]));
  for (const x of xs) assert.deepEqual(byId.get(x.eventId), expected(x), `event ${x.eventId}`);
});

test('telemetry stage: a record larger than a quarter of the ring is built here and still written; the rest in the thread', async (t) => {
  const { stage, sink, events } = await setup(t, 64 * 1024);
  const big = exchange(1, 40_000);
  const small = exchange(2);
  stage.submit(recordOf(big));
  stage.submit(recordOf(small));
  const got = await events();
  assert.equal(stage.builtHere, 1, 'the big one, on the request thread');
  assert.equal(sink.builtHere, 1, 'and handed to the thread\'s sink');
  assert.deepEqual(got.find((e) => e.event_id === big.eventId), expected(big));
  assert.deepEqual(got.find((e) => e.event_id === small.eventId), expected(small));
});

test('telemetry stage: a parked thread is woken by the next record', async (t) => {
  const { stage, sink, events } = await setup(t);
  stage.submit(recordOf(exchange(1)));
  await until('the thread to take the first record', () => sink.backlog === 0);
  // The thread parks after 50 empty 1 ms looks; 300 ms is well past that, so this record finds it
  // parked, with its own next look (every 1 s) some 700 ms away.
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  stage.submit(recordOf(exchange(2)));
  await until('the thread to take the second record', () => sink.backlog === 0, 5_000);
  const took = Date.now() - started;
  assert.ok(took < 300, `woken by the record, not by the parked thread's own look (${took} ms)`);
  assert.equal((await events()).length, 2);
});
