/**
 * The sink in the telemetry thread (services/telemetry/threaded-sink.ts): the request thread only
 * copies each exchange into the ring; the thread builds the event and sends it to real Kafka.
 * - the events it sends are the events the main thread would have built, field for field;
 * - its counters and send times reach the gateway's metrics, and its log lines the gateway's log;
 * - a thread that fails loses none of the records it had not taken: they are built and written here;
 * - a sink the thread cannot open fails the start, as it would in the main thread.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { parseConfig } from '../../services/core/config.ts';
import { createLogger, silentLogger } from '../../services/core/log.ts';
import { startGateway, type RunningGateway } from '../../services/gateway/gateway.ts';
import { eventId } from '../../services/gateway/proxy/ids.ts';
import { TelemetrySection, type TelemetryConfig } from '../../services/telemetry/config.ts';
import type { EventRecord } from '../../services/telemetry/event-builder.ts';
import { decodeEvent, type TelemetryEvent } from '../../services/telemetry/event.ts';
import { RingWriter } from '../../services/telemetry/event-ring.ts';
import { TelemetryStage } from '../../services/telemetry/event-stage.ts';
import { localLogDir } from '../../services/telemetry/factory.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { LocalLogReader } from '../../services/telemetry/local-log.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { MemorySink, type TelemetrySink } from '../../services/telemetry/sink.ts';
import { ThreadedSink, type ThreadedSinkOptions } from '../../services/telemetry/threaded-sink.ts';
import { needKafka, testKafka, uniqueName, waitUntil } from '../support/infra.ts';
import { startStandIn } from '../support/upstream.ts';
import { gatewayConfig, model, TEST_REDACTION } from '../gateway/helpers.ts';
import { deleteTopics, readTopic } from './helpers/kafka.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';

const HASHING = { key: 'threaded-sink-test-key-0123', keyId: 'k1' };
// Compared outputs: a budget no scheduler delay reaches (see TEST_REDACTION).
const REDACTION = TEST_REDACTION;

function threadOptions(t: TestContext, telemetry: TelemetryConfig, extra: Partial<ThreadedSinkOptions> = {}): ThreadedSinkOptions {
  return {
    gatewayId: 'gw-threaded', hasher: HASHING, redactor: REDACTION, hasherInstance: createHasher(HASHING), redactorInstance: createRedactor(REDACTION),
    telemetry, kafka: undefined, dataDir: tempDir(t, 'thr'), service: 'gateway', logLevel: 'info', logger: silentLogger(), ...extra,
  };
}

async function gatewayOn(t: TestContext, sink: TelemetrySink, upstream: string, id: string): Promise<RunningGateway> {
  const gw = await startGateway({
    config: gatewayConfig({ models: { m: model({ v1: upstream }, { prediction: { label: 'label', score: 'score' } }) } }), sink, gatewayId: id,
    hasher: createHasher(HASHING), redactor: createRedactor(REDACTION), logger: silentLogger(),
  });
  cleanup(t, () => gw.close());
  return gw;
}

/** The request `i`: PII in the body, non-ASCII text, a client request id. */
function request(i: number): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify({ text: `Grüße ${i} from user${i}@example.com, card 4111 1111 1111 1111 — 日本語`, n: i, nested: { phone: '+44 20 7946 0958' } }),
    headers: { 'content-type': 'application/json', 'x-request-id': `req-${i}-é` },
  };
}

/** The fields that differ between two runs of the same request (ids, times, the gateway). */
const RUN_SPECIFIC = new Set(['event_id', 'ts', 'gateway_id', 'latency_ms', 'upstream_latency_ms', 'ttfb_ms', 'trace_id', 'span_id']);
const stable = (e: TelemetryEvent): Record<string, unknown> => Object.fromEntries(Object.entries(e).filter(([k]) => !RUN_SPECIFIC.has(k)));

test('threaded sink + Kafka: the thread sends the events the main thread would build, field for field; counters and send times reach the metrics', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const kafka = testKafka(brokers);
  const topic = uniqueName('t.thr').replace(/_/g, '.');
  cleanup(t, () => deleteTopics(kafka, [topic]));
  const v1 = await startStandIn({ name: 'v1', t });
  const telemetry = parseConfig(TelemetrySection, { topic, partitions: 2, hashing: HASHING });
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ service: 'gateway', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) });
  const sink = await ThreadedSink.start(threadOptions(t, telemetry, { kafka: { brokers, clientId: 'thr-test', connectionTimeoutMs: 1000, requestTimeoutMs: 30_000 }, registry, logger }));
  cleanup(t, () => sink.close());
  const threaded = await gatewayOn(t, sink, v1.url, 'gw-threaded');
  const reference = new MemorySink();
  const inline = await gatewayOn(t, reference, v1.url, 'gw-inline');

  const N = 3000;
  const ids: string[] = [];
  for (const [gw, keep] of [[threaded, true], [inline, false]] as const) {
    const pool = new Pool(gw.url, { connections: 16 });
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        const res = await pool.request({ path: '/v1/models/m/predict', method: 'POST', ...request(i) });
        await res.body.dump();
        assert.equal(res.statusCode, 200);
        if (keep) ids[i] = String(res.headers['x-mlgate-event-id']);
      }
    }));
    await pool.close();
  }
  await threaded.close();
  await inline.close();
  await sink.flush();
  assert.equal(sink.builtHere, 0, 'every event was built in the thread');
  assert.ok(sink.inThread);

  const got = (await readTopic(kafka, topic, N)).map((m) => decoded(m.value));
  assert.equal(got.length, N);
  const byId = new Map(got.map((e) => [e.event_id, e]));
  assert.equal(byId.size, N, 'no duplicate');
  // The same body gives the same keyed hash: that pairs each event with its reference.
  const refByHash = new Map(reference.events.map((e) => [e.input_hash, e]));
  assert.equal(refByHash.size, N);
  for (let i = 0; i < N; i++) {
    const e = byId.get(ids[i]!);
    assert.ok(e, `event ${ids[i]} of request ${i} missing`);
    assert.equal(e.gateway_id, 'gw-threaded');
    assert.doesNotMatch(e.input_redacted, /@example\.com|4111 1111/, 'no raw PII');
    const ref = refByHash.get(e.input_hash);
    assert.ok(ref, `reference event of request ${i}`);
    assert.deepEqual(stable(e), stable(ref), `request ${i}: the thread's event differs from the main thread's`);
  }

  const metrics = await registry.getMetricsAsJSON();
  const events = metrics.find((m) => m.name === 'mlgate_telemetry_events_total')!;
  const sent = (events.values as Array<{ labels: { result?: string }; value: number }>).find((v) => v.labels.result === 'sent');
  assert.equal(sent?.value, N, 'sent counter');
  const sends = metrics.find((m) => m.name === 'mlgate_telemetry_send_duration_seconds')!;
  const count = (sends.values as Array<{ metricName?: string; value: number }>).find((v) => v.metricName === 'mlgate_telemetry_send_duration_seconds_count');
  assert.ok((count?.value ?? 0) > 0, 'send times observed');
  // The thread's own log lines (the Kafka sink's) come out of the gateway's logger.
  assert.ok(lines.some((l) => l.includes('"thread":"telemetry"')), `no line from the thread in ${lines.length} lines`);
});

/** A record as the gateway makes one (what TelemetryStage.submit receives). */
function record(i: number, id = eventId()): EventRecord {
  const r = request(i);
  return {
    event_id: id, ts: Date.now(), route: '/v1/models/m/predict', model: 'm', version: 'v1', role: 'stable', rollout_id: '', consumer_id: 'anonymous',
    method: 'POST', status: 200, outcome: 'ok', error_class: '', latency_ms: 1.5, upstream_latency_ms: 1, ttfb_ms: 1.2, request_bytes: r.body.length,
    response_bytes: 10, correlation_id: r.headers['x-request-id']!, trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', cache: '',
    upstream_model: '', ttft_ms: null, itl_mean_ms: null, itl_p95_ms: null, generation_ms: null, price: undefined,
    requestBody: Buffer.from(r.body), requestContentType: 'application/json', responseBody: Buffer.from('{"label":"x","score":0.5}'), responseTail: null,
    responseContentType: 'application/json', prediction: undefined, redaction: undefined,
  };
}

/** Every event in the local log at `dir`. */
async function readLog(t: TestContext, dir: string): Promise<TelemetryEvent[]> {
  const reader = new LocalLogReader({ dir, name: 'test-reader' });
  cleanup(t, () => reader.close());
  const out: TelemetryEvent[] = [];
  for (let recs = await reader.read(500); recs.length; recs = await reader.read(500)) out.push(...recs.map((r) => decoded(r.value)));
  return out;
}

function decoded(value: Buffer | string): TelemetryEvent {
  const d = decodeEvent(value);
  assert.ok(d.ok, d.ok ? '' : d.reason);
  return d.event;
}

test('threaded sink: a thread that fails loses none of the records it had not taken; they and later ones are written from the main thread', async (t) => {
  const telemetry = parseConfig(TelemetrySection, { hashing: HASHING });
  const lines: string[] = [];
  const logger = createLogger({ service: 'gateway', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) });
  const opts = threadOptions(t, telemetry, { logger });
  const sink = await ThreadedSink.start(opts);
  cleanup(t, () => sink.close());
  const stage = new TelemetryStage({ sink, hasher: opts.hasherInstance, redactor: opts.redactorInstance, gatewayId: opts.gatewayId, logger });
  const ids = Array.from({ length: 150 }, () => eventId());
  for (let i = 0; i < 50; i++) stage.submit(record(i, ids[i]));
  await stage.drain();
  await sink.flush(); // the first 50 are on disk
  // A record of an unknown kind makes the thread throw where it reads it: nothing after it is taken.
  const ring = (sink as unknown as { ring: { reserve(size: number): number; commit(at: number, size: number): void; buf: Buffer } }).ring;
  const at = ring.reserve(8);
  assert.ok(at >= 0);
  ring.buf.writeUInt32LE(2, at + 4);
  ring.commit(at, 8);
  for (let i = 50; i < 120; i++) stage.submit(record(i, ids[i]));
  await waitUntil('the sink to leave the failed thread', () => !sink.inThread || undefined, 10_000);
  for (let i = 120; i < 150; i++) stage.submit(record(i, ids[i]));
  await stage.drain();
  await sink.flush();
  assert.ok(lines.some((l) => l.includes('telemetry thread failed')), 'the failure is logged');
  const events = await readLog(t, localLogDir(telemetry, opts.dataDir));
  const got = events.map((e) => e.event_id);
  assert.equal(new Set(got).size, got.length, 'no duplicate');
  assert.deepEqual([...got].sort(), [...ids].sort(), 'every record submitted is in the log');
  for (const e of events) assert.doesNotMatch(e.input_redacted, /@example\.com/);
  assert.ok(sink.builtHere >= 100, `records built in the main thread: ${sink.builtHere}`);
  assert.equal(sink.stats().sent, 150, 'the counters add the dead thread\'s to the main thread\'s');
});

test('threaded sink: a log another live process holds fails the start with the reason, as in the main thread', async (t) => {
  const telemetry = parseConfig(TelemetrySection, { hashing: HASHING });
  const opts = threadOptions(t, telemetry);
  const dir = localLogDir(telemetry, opts.dataDir);
  // pid 1 is alive and is not this process.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'writer.lock'), '1');
  await assert.rejects(ThreadedSink.start(opts), /held by a live writer \(pid 1\)/);
});

test('threaded sink: an event emitted after close is counted as dropped, never thrown at the caller', async (t) => {
  const telemetry = parseConfig(TelemetrySection, { hashing: HASHING });
  const sink = await ThreadedSink.start(threadOptions(t, telemetry));
  await sink.close();
  assert.equal(sink.takeRecord(record(1)), false, 'a closed sink takes no record');
  const reference = new MemorySink();
  const stage = new TelemetryStage({ sink: reference, hasher: createHasher(HASHING), redactor: createRedactor(REDACTION), gatewayId: 'x', logger: silentLogger() });
  stage.submit(record(2));
  await stage.drain();
  assert.doesNotThrow(() => sink.emit(reference.events[0]!));
  assert.equal(sink.stats().dropped, 1);
});

test('threaded sink: a flood larger than the sink\'s queue waits in the ring; nothing is dropped', async (t) => {
  // A queue of 100 events and 3,000 records handed over at once: the thread must not take more
  // than the queue holds (the sink counts what does not fit as dropped).
  const telemetry = parseConfig(TelemetrySection, { hashing: HASHING, queue: { maxEvents: 100, highWater: 50 } });
  const opts = threadOptions(t, telemetry);
  const sink = await ThreadedSink.start(opts);
  cleanup(t, () => sink.close());
  const ids = Array.from({ length: 3000 }, () => eventId());
  for (let i = 0; i < ids.length; i++) assert.ok(sink.takeRecord(record(i, ids[i])), `record ${i} fits the ring`);
  await sink.flush();
  assert.equal(sink.stats().dropped, 0, 'dropped');
  const got = (await readLog(t, localLogDir(telemetry, opts.dataDir))).map((e) => e.event_id);
  assert.deepEqual([...got].sort(), [...ids].sort());
});

test('threaded sink: a thread that hashes with another key is given up at start; events are built and written on the main thread, keyed as the gateway keys them', async (t) => {
  const telemetry = parseConfig(TelemetrySection, { hashing: HASHING });
  const lines: string[] = [];
  const logger = createLogger({ service: 'gateway', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) });
  const opts = threadOptions(t, telemetry, { logger, hasher: { key: 'another-key-for-the-thread-0123', keyId: 'k1' } });
  const sink = await ThreadedSink.start(opts);
  cleanup(t, () => sink.close());
  assert.equal(sink.inThread, false);
  assert.ok(lines.some((l) => l.includes('hashes differently')), 'the reason is logged');
  const stage = new TelemetryStage({ sink, hasher: opts.hasherInstance, redactor: opts.redactorInstance, gatewayId: opts.gatewayId, logger });
  const ids = Array.from({ length: 20 }, () => eventId());
  for (let i = 0; i < ids.length; i++) stage.submit(record(i, ids[i]));
  await stage.drain();
  await sink.flush();
  const events = await readLog(t, localLogDir(telemetry, opts.dataDir));
  assert.deepEqual(events.map((e) => e.event_id).sort(), [...ids].sort());
  for (const [i, e] of events.entries()) {
    const n = ids.indexOf(e.event_id);
    assert.equal(e.input_hash, opts.hasherInstance.hashPayload(request(n).body, 'application/json'), `event ${i} keyed with the gateway's key`);
  }
});

test('threaded sink: a record the thread takes the instant it is written (the request thread preempted) is not left waiting; flush returns', async (t) => {
  const telemetry = parseConfig(TelemetrySection, { hashing: HASHING });
  const opts = threadOptions(t, telemetry);
  const sink = await ThreadedSink.start(opts);
  // Bounded: with the bug this guards against, close would wait for the lost record for ever.
  cleanup(t, () => Promise.race([sink.close(), new Promise((r) => setTimeout(r, 5000))]));
  // Each write waits, as a preempted thread would, until the telemetry thread has taken it.
  const proto = RingWriter.prototype;
  const write = proto.writeRecord;
  let written = 0;
  proto.writeRecord = function (this: RingWriter, r: EventRecord): boolean {
    const ok = write.call(this, r);
    if (ok) {
      written++;
      const end = Date.now() + 5000;
      while (this.taken() !== written && Date.now() < end) { /* the other thread works meanwhile */ }
    }
    return ok;
  };
  t.after(() => { proto.writeRecord = write; });
  const ids = Array.from({ length: 1100 }, () => eventId()); // past the 1,024 records after which the sink forgets taken ones
  for (let i = 0; i < ids.length; i++) assert.ok(sink.takeRecord(record(i, ids[i])));
  proto.writeRecord = write;
  const outcome = await Promise.race([sink.flush().then(() => 'flushed'), new Promise((r) => setTimeout(r, 10_000)).then(() => 'stuck')]);
  assert.equal(outcome, 'flushed', `backlog ${sink.backlog}`);
  assert.equal(sink.backlog, 0);
  assert.equal((await readLog(t, localLogDir(telemetry, opts.dataDir))).length, ids.length);
});
