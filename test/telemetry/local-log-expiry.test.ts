// The age bound of the local log and the spill (`maxAgeHours`): segments whose newest record is
// older are deleted, consumed or not, and what no reader had taken is counted as expired; a
// segment with any fresh record is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../services/core/log.ts';
import { parseConfig } from '../../services/core/config.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { createSink } from '../../services/telemetry/factory.ts';
import { KafkaSink } from '../../services/telemetry/kafka-sink.ts';
import { LocalLogReader, LocalLogWriter, type LocalLogExpiry } from '../../services/telemetry/local-log.ts';
import { tempDir } from '../support/cleanup.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const rec = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(100) }));
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

/** Writes `n` records in segments of 2 KiB (about 16 records each) and closes the log. */
async function fill(dir: string, n: number): Promise<void> {
  const w = new LocalLogWriter({ dir, segmentBytes: 2048, fsync: 'never' });
  for (let i = 0; i < n; i += 5) await w.append(Array.from({ length: Math.min(5, n - i) }, (_, k) => rec(i + k)));
  await w.close();
}

/** Sets the modification time of every segment but the last `keep` to `ageMs` ago; returns the records in the aged ones. */
function age(dir: string, ageMs: number, keep: number): number {
  const segs = segments(dir);
  const aged = segs.slice(0, segs.length - keep);
  const t = new Date(Date.now() - ageMs);
  for (const f of aged) utimesSync(join(dir, f), t, t);
  return Number(segs[segs.length - keep]!.slice(0, -4));
}

test('opening a log deletes the segments older than maxAgeMs, counts the records no reader took, keeps the fresh ones', async (t) => {
  const dir = tempDir(t, 'log');
  await fill(dir, 100);
  const firstKept = age(dir, 31 * DAY, 2); // every segment but the two newest is 31 days old
  assert.ok(firstKept > 30, `several old segments (${firstKept} records)`);
  // The reader had taken 10 records: those were consumed, the rest of the old segments were not.
  const r0 = new LocalLogReader({ dir, name: 'ingester' });
  await r0.read(10);
  await r0.commit(10);
  await r0.close();
  const before = segments(dir);

  const seen: LocalLogExpiry[] = [];
  const w = new LocalLogWriter({ dir, segmentBytes: 2048, fsync: 'never', maxAgeMs: 30 * DAY, onExpired: (e) => seen.push(e) });
  t.after(() => w.close());
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.segments, before.length - 2);
  assert.equal(seen[0]!.records, firstKept - 10);
  assert.deepEqual(segments(dir), before.slice(-2), 'the two fresh segments are kept');
  assert.equal(w.nextOffset, 100, 'offsets continue');

  const r = new LocalLogReader({ dir, name: 'ingester' });
  t.after(() => r.close());
  const got = await r.read(1000);
  assert.deepEqual(got.map((x) => x.offset), Array.from({ length: 100 - firstKept }, (_, i) => firstKept + i), 'the reader continues at the first record kept');
});

test('a segment with a fresh record is kept; the current segment, idle past the bound, is rolled and deleted on the injected clock', async (t) => {
  const dir = tempDir(t, 'log');
  let clock = Date.now();
  const seen: LocalLogExpiry[] = [];
  const w = new LocalLogWriter({ dir, segmentBytes: 1024 * 1024, fsync: 'never', maxAgeMs: 2 * HOUR, now: () => clock, onExpired: (e) => seen.push(e) });
  t.after(() => w.close());
  await w.append(Array.from({ length: 40 }, (_, i) => rec(i)));
  clock += HOUR; // written an hour ago: within the bound
  assert.equal(await w.expireNow(), undefined);
  assert.equal(segments(dir).length, 1);
  clock += HOUR + 1000; // now past it
  const e = await w.expireNow();
  assert.deepEqual([e?.segments, e?.records], [1, 40]);
  assert.deepEqual(seen.map((x) => x.records), [40]);
  assert.deepEqual(segments(dir), ['00000000000000000040.seg'], 'a new, empty segment at the next offset');
  assert.deepEqual(await w.append([rec(40)]), { firstOffset: 40, lastOffset: 40 });
  const r = new LocalLogReader({ dir, name: 'ingester' });
  t.after(() => r.close());
  assert.deepEqual((await r.read(100)).map((x) => x.offset), [40]);
});

test('the local-log sink and the Kafka sink\'s spill count expired events in mlgate_telemetry_events_total{result="expired"}', async (t) => {
  for (const kind of ['local', 'spill'] as const) {
    const dir = tempDir(t, kind);
    const logDir = join(dir, kind);
    await fill(logDir, 60);
    const firstKept = age(logDir, 3 * HOUR, 1);
    const registry = new Registry();
    const telemetry = parseConfig(TelemetrySection, { hashing: { key: 'k'.repeat(16) }, stallMs: 100, localLog: { dir: logDir, maxAgeHours: 2 }, spill: { dir: logDir, maxAgeHours: 2 } });
    const sink = createSink({
      telemetry, dataDir: dir, logger: silentLogger(), registry,
      ...(kind === 'spill' ? { kafka: { brokers: ['127.0.0.1:29095'], clientId: 'test', connectionTimeoutMs: 200 } } : {}),
    });
    t.after(() => sink.close());
    assert.equal(sink instanceof KafkaSink, kind === 'spill');
    assert.match(await registry.metrics(), new RegExp(`mlgate_telemetry_events_total\\{result="expired"\\} ${firstKept}\\n`), kind);
    assert.equal(segments(logDir).length, 1, kind);
  }
});
