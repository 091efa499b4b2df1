import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../services/core/log.ts';
import { parseConfig } from '../../services/core/config.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { decodeEvent } from '../../services/telemetry/event.ts';
import { createSink, localLogDir } from '../../services/telemetry/factory.ts';
import { KafkaSink } from '../../services/telemetry/kafka-sink.ts';
import { LocalLogReader } from '../../services/telemetry/local-log.ts';
import { LocalLogSink } from '../../services/telemetry/log-sink.ts';
import { sampleEvent } from '../support/events.ts';
import { waitUntil } from '../support/infra.ts';
import { tempDir } from '../support/cleanup.ts';

test('config: only the hash key is required; every sink setting has a default', () => {
  const c = parseConfig(TelemetrySection, { hashing: { key: 'k'.repeat(16) } });
  assert.equal(c.topic, 'mlgate.telemetry.v1');
  assert.equal(c.queue.highWater < c.queue.maxEvents, true);
  assert.equal(c.spill.fsync, 'interval');
  assert.equal(c.localLog.dir, '');
  assert.throws(() => parseConfig(TelemetrySection, { hashing: { key: 'k'.repeat(16) }, queue: { maxEvents: 100, highWater: 100 } }), /queue\.highWater: highWater must be below maxEvents/);
  assert.throws(() => parseConfig(TelemetrySection, { hashing: { key: 'k'.repeat(16) }, spill: { fsync: 'sometimes' } }), /spill\.fsync/);
});

test('local-log sink (embedded mode): every event reaches the log in order, readable by the ingester', async (t) => {
  const dataDir = tempDir(t, 'sink');
  const telemetry = parseConfig(TelemetrySection, { hashing: { key: 'k'.repeat(16) } });
  const registry = new Registry();
  const sink = createSink({ telemetry, dataDir, logger: silentLogger(), registry });
  assert.ok(sink instanceof LocalLogSink);
  const ids: string[] = [];
  for (let i = 0; i < 2500; i++) {
    const e = sampleEvent();
    ids.push(e.event_id);
    sink.emit(e);
  }
  await sink.flush();
  assert.deepEqual(sink.stats(), { queued: 0, sent: 2500, spilled: 0, replayed: 0, dropped: 0, errors: 0 });
  const reader = new LocalLogReader({ dir: localLogDir(telemetry, dataDir), name: 'ingester' });
  const got: string[] = [];
  for (let r = await reader.read(1000); r.length; r = await reader.read(1000)) {
    for (const rec of r) {
      const d = decodeEvent(rec.value);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      got.push(d.event.event_id);
    }
  }
  assert.deepEqual(got, ids);
  const text = await registry.metrics();
  assert.match(text, /mlgate_telemetry_events_total\{result="sent"\} 2500/);
  assert.match(text, /mlgate_telemetry_queue_depth 0/);
  await reader.close();
  await sink.close();
  sink.emit(sampleEvent());
  assert.equal(sink.stats().dropped, 1, 'an event after close is counted, not lost silently');
});

test('local-log sink: past the size cap each event is counted as dropped; emit never throws', async (t) => {
  const dir = tempDir(t, 'sink');
  const sink = new LocalLogSink({ log: { dir, maxBytes: 64 * 1024, segmentBytes: 16 * 1024 }, queue: { maxEvents: 10_000 }, batch: { maxEvents: 50, maxBytes: 1 << 20, lingerMs: 1 }, logger: silentLogger() });
  for (let i = 0; i < 500; i++) sink.emit(sampleEvent());
  const bad = sampleEvent() as unknown as Record<string, unknown>;
  bad.latency_ms = 10n; // JSON.stringify throws on a BigInt
  assert.doesNotThrow(() => sink.emit(bad as never));
  await sink.flush();
  const s = sink.stats();
  assert.ok(s.dropped > 1, `some events dropped at the cap (${s.dropped})`);
  assert.equal(s.sent + s.dropped, 501, 'every event is either in the log or counted as dropped');
  await sink.close();
});

test('kafka sink with an unreachable broker: events spill to disk, flush resolves, nothing is lost', async (t) => {
  const dir = tempDir(t, 'sink');
  const registry = new Registry();
  const telemetry = parseConfig(TelemetrySection, { hashing: { key: 'k'.repeat(16) }, stallMs: 100, spill: { dir } });
  const sink = createSink({ telemetry, kafka: { brokers: ['127.0.0.1:29097'], clientId: 'test', connectionTimeoutMs: 200 }, dataDir: dir, logger: silentLogger(), registry });
  assert.ok(sink instanceof KafkaSink);
  for (let i = 0; i < 300; i++) sink.emit(sampleEvent());
  await waitUntil('spill mode', () => sink.currentMode() === 'spill', 10_000);
  await sink.flush();
  const s = sink.stats();
  assert.equal(s.queued, 0);
  assert.equal(s.spilled, 300);
  assert.equal(sink.spillBacklog(), 300);
  assert.match(await registry.metrics(), /mlgate_telemetry_events_total\{result="spilled"\} 300/);
  await sink.close();
  assert.throws(() => new KafkaSink({ brokers: [], clientId: 'x', topic: 't', partitions: 1, queue: { maxEvents: 10, highWater: 5 }, batch: { maxEvents: 1, maxBytes: 2048, lingerMs: 0 }, stallMs: 100, spill: { dir }, logger: silentLogger() }), /brokers are required/);
});

test('kafka sink: close with Kafka unreachable holds the process open until it is done, wherever the connect loop is', async (t) => {
  // Regression: close() once left only unref'd timers while the loop was in a failed connect,
  // so a process awaiting close (graceful shutdown) could end before its events were safe.
  const dir = tempDir(t, 'sink');
  const delays = [0, 300, 600, 1000];
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers/close-child.ts'), dir, ...delays.map(String)], (err, stdout) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout });
    });
  });
  assert.equal(code, 0, `the child exits cleanly (13 means a pending close was abandoned); it printed:\n${stdout}`);
  assert.deepEqual(stdout.trim().split('\n'), delays.map((d) => `closed ${d} spilled=1`), 'every close finished and the event was kept in the spill');
});

test('kafka sink: a full spill and a full queue count every event they could not keep', async (t) => {
  const dir = tempDir(t, 'sink');
  const sink = new KafkaSink({
    brokers: ['127.0.0.1:29096'], clientId: 'test', topic: 't', partitions: 1, queue: { maxEvents: 400, highWater: 100 },
    batch: { maxEvents: 50, maxBytes: 1 << 20, lingerMs: 1 }, stallMs: 50, spill: { dir, maxBytes: 64 * 1024, segmentBytes: 16 * 1024 },
    connectionTimeoutMs: 200, logger: silentLogger(),
  });
  for (let i = 0; i < 1000; i++) sink.emit(sampleEvent()); // one synchronous burst: the queue holds 400
  const droppedAtBurst = sink.stats().dropped;
  assert.ok(droppedAtBurst >= 500, `past queue.maxEvents each event is counted (${droppedAtBurst})`);
  assert.equal(sink.currentMode(), 'spill', 'past the high-water mark the sink spills');
  await sink.flush();
  const s = sink.stats();
  assert.ok(s.spilled > 0 && s.spilled < 400, `the 64 KiB spill took some (${s.spilled})`);
  assert.equal(s.spilled + s.dropped, 1000, 'every event is spilled or counted as dropped');
  assert.equal(s.queued, 0);
  await sink.close();
});
