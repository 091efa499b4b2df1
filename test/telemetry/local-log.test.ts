import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalLogReader, LocalLogWriter } from '../../services/telemetry/local-log.ts';
import { TelemetryErrors } from '../../services/telemetry/errors.ts';
import { waitUntil } from '../support/infra.ts';
import { tempDir } from '../support/cleanup.ts';

const rec = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(100) }));
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

async function readAll(r: LocalLogReader, batch = 37): Promise<Array<{ offset: number; value: Buffer }>> {
  const out: Array<{ offset: number; value: Buffer }> = [];
  for (;;) {
    const got = await r.read(batch);
    if (!got.length) return out;
    out.push(...got);
  }
}

test('local log: dense offsets across segments and restarts, reader resumes at its commit', async (t) => {
  const dir = tempDir(t, 'log');
  let w = new LocalLogWriter({ dir, segmentBytes: 2048, fsync: 'always' });
  const a = await w.append([rec(0), rec(1), rec(2)]);
  assert.deepEqual(a, { firstOffset: 0, lastOffset: 2 });
  for (let i = 3; i < 100;) {
    const n = Math.min(1 + (i % 7), 100 - i);
    await w.append(Array.from({ length: n }, (_, k) => rec(i + k)));
    i += n;
  }
  await w.close();
  assert.ok(segments(dir).length > 3, 'small segments roll');
  w = new LocalLogWriter({ dir, segmentBytes: 2048 });
  assert.equal(w.nextOffset, 100);
  assert.equal(w.truncatedBytes, 0);
  assert.deepEqual(await w.append([rec(100)]), { firstOffset: 100, lastOffset: 100 });

  let r = new LocalLogReader({ dir, name: 'ingester' });
  const first = await r.read(40);
  assert.deepEqual(first.map((x) => x.offset), Array.from({ length: 40 }, (_, i) => i));
  assert.deepEqual(first.map((x) => JSON.parse(x.value.toString()).i), Array.from({ length: 40 }, (_, i) => i));
  await r.commit(40);
  await r.read(10); // read but not committed: a restarted reader sees these again
  await r.close();
  r = new LocalLogReader({ dir, name: 'ingester' });
  assert.equal(r.committedOffset(), 40);
  const rest = await readAll(r);
  assert.deepEqual(rest.map((x) => x.offset), Array.from({ length: 61 }, (_, i) => 40 + i));
  assert.deepEqual(rest.map((x) => JSON.parse(x.value.toString()).i), Array.from({ length: 61 }, (_, i) => 40 + i));
  assert.deepEqual(await r.read(10), []);
  await w.append([rec(101)]);
  assert.deepEqual((await r.read(10)).map((x) => x.offset), [101], 'tails new appends');
  await r.close();
  await w.close();
});

test('local log: a torn final record is never returned and is truncated by the next writer', async (t) => {
  const dir = tempDir(t, 'log');
  let w = new LocalLogWriter({ dir });
  await w.append([rec(0), rec(1), rec(2)]);
  await w.close();
  const last = join(dir, segments(dir).at(-1)!);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(500, 0);
  appendFileSync(last, Buffer.concat([header, Buffer.from('{"i":3,"pa')])); // crash mid-write
  const r = new LocalLogReader({ dir, name: 'x' });
  assert.deepEqual((await readAll(r)).map((x) => x.offset), [0, 1, 2]);
  w = new LocalLogWriter({ dir });
  assert.equal(w.truncatedBytes, 18);
  assert.equal(w.nextOffset, 3);
  await w.append([rec(3)]);
  const got = await r.read(10);
  assert.deepEqual(got.map((x) => JSON.parse(x.value.toString()).i), [3]);
  assert.equal(got[0]!.offset, 3);
  await r.close();
  await w.close();
});

test('local log: a complete frame with a bad checksum (or zero fill) is cut at start', async (t) => {
  const dir = tempDir(t, 'log');
  let w = new LocalLogWriter({ dir });
  await w.append([rec(0), rec(1)]);
  await w.close();
  const path = join(dir, segments(dir).at(-1)!);
  const bytes = readFileSync(path);
  bytes[bytes.length - 5] ^= 0xff; // flip a payload byte of record 1
  writeFileSync(path, Buffer.concat([bytes, Buffer.alloc(64)]));
  const r = new LocalLogReader({ dir, name: 'x' });
  assert.deepEqual((await readAll(r)).map((x) => x.offset), [0]);
  w = new LocalLogWriter({ dir });
  assert.equal(w.nextOffset, 1);
  assert.ok(w.truncatedBytes > 64);
  await w.close();
  await r.close();
});

test('local log: segments are deleted only once every reader has committed past them', async (t) => {
  const dir = tempDir(t, 'log');
  const w = new LocalLogWriter({ dir, segmentBytes: 1024 });
  for (let i = 0; i < 60; i++) await w.append([rec(i)]);
  const nSegs = segments(dir).length;
  assert.ok(nSegs >= 6);
  const a = new LocalLogReader({ dir, name: 'a' });
  const b = new LocalLogReader({ dir, name: 'b' });
  await a.read(60);
  await b.read(10);
  await b.commit(10);
  await a.commit(60);
  const afterA = segments(dir);
  assert.ok(afterA.length < nSegs, 'segments below both commits are gone');
  assert.ok(Number(afterA[0]!.slice(0, 20)) <= 10, 'b still needs offset 10');
  const rest = await readAll(b);
  assert.deepEqual(rest.map((x) => x.offset), Array.from({ length: 50 }, (_, i) => 10 + i));
  await b.commit(60);
  assert.equal(segments(dir).length, 1, 'only the active segment stays');
  await w.roll();
  await b.commit(60);
  assert.equal(segments(dir).length, 1, 'after a roll the consumed segment goes too');
  await w.refreshSize();
  assert.equal(w.sizeBytes(), 0);
  await assert.rejects(b.commit(61), (e) => TelemetryErrors.badCommit.is(e));
  await assert.rejects(b.commit(5), (e) => TelemetryErrors.badCommit.is(e));
  await Promise.all([a.close(), b.close(), w.close()]);
});

test('local log: appends past maxBytes fail with MLG_TEL_LOG_FULL until readers free space', async (t) => {
  const dir = tempDir(t, 'log');
  const w = new LocalLogWriter({ dir, segmentBytes: 1024, maxBytes: 4096 });
  let appended = 0;
  for (;;) {
    try {
      await w.append([rec(appended)]);
      appended++;
    } catch (err) {
      assert.ok(TelemetryErrors.logFull.is(err), String(err));
      break;
    }
  }
  assert.ok(appended > 20 && w.sizeBytes() <= 4096);
  const r = new LocalLogReader({ dir, name: 'r' });
  const got = await readAll(r);
  assert.equal(got.length, appended, 'everything accepted is readable');
  await r.commit(appended);
  assert.deepEqual(await w.append([rec(appended)]), { firstOffset: appended, lastOffset: appended });
  await r.close();
  await w.close();
});

test('local log: one live writer per directory; a dead writer\'s lock is taken over', async (t) => {
  const dir = tempDir(t, 'log');
  const w = new LocalLogWriter({ dir });
  assert.throws(() => new LocalLogWriter({ dir }), (e) => TelemetryErrors.logLocked.is(e));
  await w.close();
  writeFileSync(join(dir, 'writer.lock'), '999999999');
  const w2 = new LocalLogWriter({ dir });
  await w2.close();
  assert.throws(() => new LocalLogWriter({ dir, fsync: 'sometimes' as never }), /fsync must be always\|interval\|never/);
  assert.throws(() => new LocalLogWriter({ dir, segmentBytes: 10 }), /segmentBytes must be an integer >= 1024/);
  assert.throws(() => new LocalLogReader({ dir, name: '../etc' }), /name must match/);
  await assert.rejects(w2.append([rec(0)]), (e) => TelemetryErrors.logClosed.is(e));
});

test('local log: a writer killed with SIGKILL loses no acknowledged record and leaves no garbage', async (t) => {
  const dir = tempDir(t, 'log');
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers/log-writer-child.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acked = -1;
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    for (const m of s.matchAll(/acked (\d+)/g)) acked = Math.max(acked, Number(m[1]));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitUntil('child to ack 3000 records', () => acked >= 3000, 60_000);
  child.kill('SIGKILL');
  await exited;
  const r = new LocalLogReader({ dir, name: 'check' });
  const got = await readAll(r, 1000);
  assert.ok(got.length > acked, `all ${acked + 1} acknowledged records are there (got ${got.length})`);
  got.forEach((x, i) => {
    assert.equal(x.offset, i);
    assert.equal(JSON.parse(x.value.toString()).seq, i);
  });
  const w = new LocalLogWriter({ dir, segmentBytes: 64 * 1024 });
  assert.equal(w.nextOffset, got.length);
  await w.append([rec(got.length)]);
  assert.deepEqual((await r.read(5)).map((x) => x.offset), [got.length]);
  await r.close();
  await w.close();
});
