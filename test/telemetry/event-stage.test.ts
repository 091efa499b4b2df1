/**
 * The telemetry stage with its worker: payloads go through the shared ring (wrapping around it
 * many times), records too big for the ring are built inline, a parked worker is woken by the
 * next record, and a worker that dies with records in the ring loses none of them.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TelemetryStage } from '../../services/telemetry/event-stage.ts';
import { Exchange, ResponseCapture } from '../../services/gateway/proxy/exchange-record.ts';
import { buildEvent } from '../../services/telemetry/event-builder.ts';
import { recordOf } from '../../services/gateway/observability/event-record.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { createLogger } from '../../services/core/log.ts';
import { MemorySink } from '../../services/telemetry/sink.ts';
import type { ModelConfig } from '../../services/gateway/config.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { HASH_KEY } from '../gateway/helpers.ts';

const hasherOpts = { key: HASH_KEY, keyId: 'k1' };
const redactorOpts = { maxChars: 2048 };
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
const expected = (x: Exchange): TelemetryEvent => buildEvent(recordOf(x), { hasher, redactor, gatewayId: 'g', paths: new Map() });

function stage(t: TestContext, sink: MemorySink, ringBytes?: number): TelemetryStage {
  const s = new TelemetryStage({ sink, hasher, redactor, gatewayId: 'g', logger, worker: { hasher: hasherOpts, redactor: redactorOpts }, ringBytes });
  t.after(() => s.close());
  return s;
}

/** Waits until the worker has built an event (it takes a few hundred ms to start). */
async function workerUp(s: TelemetryStage): Promise<void> {
  s.submit(recordOf(exchange(0)));
  await until('the worker to build its first event', () => s.built.worker > 0);
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('telemetry stage: 3,000 events through a 64 KiB ring (wrapping ~45 times) equal inline builds', async (t) => {
  const sink = new MemorySink();
  const s = stage(t, sink, 64 * 1024);
  await workerUp(s);
  const xs: Exchange[] = [];
  for (let i = 1; i <= 3000; i++) {
    const x = exchange(i, (i * 37) % 900);
    xs.push(x);
    s.submit(recordOf(x));
    if (i % 20 === 0) await until('the worker to keep up', () => s.backlog < 20); // ~20 KiB in the ring at most
  }
  await s.drain();
  assert.equal(sink.events.length, 3001);
  assert.equal(s.built.inline, 0, 'none had to be built inline');
  const byId = new Map(sink.events.map((e) => [e.event_id, e]));
  for (const x of xs) assert.deepEqual(byId.get(x.eventId), expected(x), `event ${x.eventId}`);
});

test('telemetry stage: a record larger than a quarter of the ring is built inline, the rest still in the worker', async (t) => {
  const sink = new MemorySink();
  const s = stage(t, sink, 64 * 1024);
  await workerUp(s);
  const big = exchange(1, 40_000);
  const small = exchange(2);
  s.submit(recordOf(big));
  s.submit(recordOf(small));
  await s.drain();
  assert.equal(s.built.inline, 1);
  assert.equal(s.built.worker, 2);
  assert.deepEqual(sink.events.find((e) => e.event_id === big.eventId), expected(big));
  assert.deepEqual(sink.events.find((e) => e.event_id === small.eventId), expected(small));
});

test('telemetry stage: a parked worker is woken by the next record', async (t) => {
  const sink = new MemorySink();
  const s = stage(t, sink);
  await workerUp(s);
  // The worker parks after 50 empty 1 ms naps; 300 ms is well past that, so this record finds it
  // parked, with its own next look (every 1 s) some 700 ms away.
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  s.submit(recordOf(exchange(2)));
  await s.drain();
  const took = Date.now() - started;
  assert.equal(s.built.worker, 2, 'built in the worker after waking it');
  assert.ok(took < 300, `woken by the record, not by the parked worker's own look (${took} ms)`);
});

test('telemetry stage: a worker that dies with records in the ring loses none of them', async (t) => {
  const sink = new MemorySink();
  const s = stage(t, sink);
  await workerUp(s);
  const xs = Array.from({ length: 500 }, (_, i) => exchange(i + 1));
  // Kill the worker from inside: terminate it the way a crash would end it, with records queued.
  const w = (s as unknown as { worker: { terminate(): Promise<number> } }).worker;
  for (const x of xs) s.submit(recordOf(x));
  void w.terminate();
  await until('the stage to give up on the worker', () => !s.usesWorker);
  await s.drain();
  const got = new Map(sink.events.map((e) => [e.event_id, e]));
  for (const x of xs) assert.deepEqual(got.get(x.eventId), expected(x), `event ${x.eventId}`);
  assert.equal(sink.events.length, 501, 'each exactly once');
});
