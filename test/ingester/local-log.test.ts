// The same ingester core tailing the local telemetry log (embedded mode) into the embedded engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../support/infra.ts';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { eventValues, metric, runIngester } from './support.ts';
import { IngesterSection } from '../../services/ingester/config.ts';
import { IngesterServiceConfig } from '../../services/ingester/main.ts';
import { LocalLogSource } from '../../services/ingester/local-source.ts';
import type { DeadLetter } from '../../services/ingester/source.ts';
import { LocalLogReader, LocalLogWriter } from '../../services/telemetry/local-log.ts';

function source(dir: string): LocalLogSource {
  return new LocalLogSource({ dir: join(dir, 'log'), dlqDir: join(dir, 'dlq'), reader: 'ingester', maxRows: 700, lingerMs: 50, pollMs: 20 });
}

test('local log: events are stored exactly once across a restart; malformed ones go to the local dead-letter log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-locallog-'));
  const wh = await embeddedWarehouse(t);
  const writer = new LocalLogWriter({ dir: join(dir, 'log'), fsync: 'never' });
  t.after(() => writer.close());
  const values = eventValues(5000);
  await writer.append(values.slice(0, 2000));
  await writer.append([Buffer.from('{"not": "an event"}'), Buffer.from('garbage')]);
  const cfg = IngesterSection.parse({ lagIntervalMs: 100, batch: { maxRows: 700, lingerMs: 50 } });

  const first = await runIngester(t, wh, cfg, source(dir));
  await waitUntil('2000 rows', async () => (await count(wh, 'SELECT count() FROM {db}.requests')) === 2000, 30_000);
  await waitUntil('lag reported at zero', async () => (await metric(first.registry, 'mlgate_ingester_consumer_lag')) === 0, 10_000);
  await first.ingester.stop();
  assert.equal(new LocalLogReader({ dir: join(dir, 'log'), name: 'ingester' }).committedOffset(), 2002);

  await writer.append(values.slice(2000));
  const second = await runIngester(t, wh, cfg, source(dir));
  await waitUntil('5000 rows', async () => (await count(wh, 'SELECT count() FROM {db}.requests')) === 5000, 30_000);
  await second.ingester.stop();
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 5000);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 5000);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE src_topic = 'local:ingester' AND src_partition = 0"), 5000);

  const dlqReader = new LocalLogReader({ dir: join(dir, 'dlq'), name: 'check' });
  const dead = await dlqReader.read(10);
  await dlqReader.close(); // an unclosed reader's segment handle was closed by GC (DEP0137)
  const records = dead.map((r) => JSON.parse(r.value.toString()) as { reason: string; offset: number; value_base64: string; detail: string });
  assert.deepEqual(records.map((r) => [r.reason, r.offset]), [['schema_invalid', 2000], ['invalid_json', 2001]]);
  assert.equal(Buffer.from(records[1]!.value_base64, 'base64').toString(), 'garbage');
  assert.match(records[0]!.detail, /event_id/);
  assert.equal(await metric(first.registry, 'mlgate_ingester_dlq_total'), 2);
});

test('local log: a log deleted and started again from offset 0 is not mistaken for a replay of the old one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-locallog-'));
  const wh = await embeddedWarehouse(t);
  const cfg = IngesterSection.parse({ lagIntervalMs: 100, batch: { maxRows: 700, lingerMs: 50 } });
  const ingest = async (values: Buffer[], expected: number) => {
    const writer = new LocalLogWriter({ dir: join(dir, 'log'), fsync: 'never' });
    await writer.append(values);
    await writer.close();
    const run = await runIngester(t, wh, cfg, source(dir));
    await waitUntil(`${expected} rows`, async () => (await count(wh, 'SELECT count() FROM {db}.requests')) === expected, 30_000);
    await run.ingester.stop();
  };
  await ingest(eventValues(1500), 1500);
  rmSync(join(dir, 'log'), { recursive: true, force: true }); // same offsets 0…1499 again, other events
  await ingest(eventValues(1500), 3000);
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 3000);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 3000);
});

test('local log: drain() returns once everything written is stored and committed, so a stop leaves nothing behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-locallog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wh = await embeddedWarehouse(t);
  const writer = new LocalLogWriter({ dir: join(dir, 'log'), fsync: 'never' });
  t.after(() => writer.close());
  const cfg = IngesterSection.parse({ lagIntervalMs: 100, batch: { maxRows: 700, lingerMs: 50 } });
  const run = await runIngester(t, wh, cfg, source(dir));
  await writer.append(eventValues(6000));
  // No wait for rows here: drain itself must hold until they are stored.
  assert.equal(await run.ingester.drain(30_000), 0);
  await run.ingester.stop();
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 6000);
  assert.equal(new LocalLogReader({ dir: join(dir, 'log'), name: 'ingester' }).committedOffset(), 6000);
});

test('local dead letters have an age bound: letters older than dlqMaxAgeMs are deleted when the source starts, newer ones kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-locallog-dlq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bounded = () => new LocalLogSource({ dir: join(dir, 'log'), dlqDir: join(dir, 'dlq'), reader: 'ingester', maxRows: 10, lingerMs: 10, pollMs: 10, dlqMaxAgeMs: 3_600_000 });
  const letter = (offset: number): DeadLetter => ({ source: 'local:ingester', partition: 0, offset, value: Buffer.from(`bad ${offset}`), key: null, reason: 'invalid_json', detail: 'x' });
  const dlqRecords = async () => {
    const r = new LocalLogReader({ dir: join(dir, 'dlq'), name: `check-${Math.random()}` });
    const got = await r.read(100);
    await r.close();
    return got.map((x) => (JSON.parse(x.value.toString()) as { offset: number }).offset);
  };
  // Two letters written, then their segment made two hours old (its modification time is the age).
  const first = bounded();
  await first.deadLetter([letter(1), letter(2)]);
  await first.stop();
  assert.deepEqual(await dlqRecords(), [1, 2]);
  const old = (Date.now() - 2 * 3_600_000) / 1000;
  for (const f of readdirSync(join(dir, 'dlq'))) if (f.endsWith('.seg')) utimesSync(join(dir, 'dlq', f), old, old);
  // A new source with a one-hour bound deletes them at start, before any new letter; a new one stays.
  const second = bounded();
  await second.start(async () => {}, () => {}, () => {});
  assert.deepEqual(await dlqRecords(), [], 'old letters deleted at start');
  await second.deadLetter([letter(3)]);
  assert.deepEqual(await dlqRecords(), [3]);
  await second.stop();
});

test('the ingester config bounds telemetry.localLog.maxAgeHours like the telemetry section does, naming the field', () => {
  assert.equal(IngesterServiceConfig.parse({ telemetry: { localLog: { maxAgeHours: 48 } } }).telemetry?.localLog?.maxAgeHours, 48);
  for (const bad of [0, 1.5, 1e12, -1]) {
    const r = IngesterServiceConfig.safeParse({ telemetry: { localLog: { maxAgeHours: bad } } });
    assert.equal(r.success, false, `${bad} accepted`);
    assert.deepEqual(r.error!.issues[0]!.path, ['telemetry', 'localLog', 'maxAgeHours']);
  }
});
