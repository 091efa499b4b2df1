// `mlgate ingester` as a child process, killed with SIGKILL mid-stream three times (each time
// between an insert and its commit) and restarted: the embedded ClickHouse must end with exactly
// the events produced. The child owns
// its chdb data path; this test process opens that path only after the last child has exited
// (one embedded data path per process, and this file uses no other).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { setTimeout } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needKafka, testKafka, waitUntil, withTopics } from '../support/infra.ts';
import { eventValues, groupProgress, produce } from './support.ts';
import { spawnIngester, writeConfig, type ChildIngester } from './child.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { createWarehouse } from '../../services/warehouse/warehouse.ts';

const TOTAL = 100_000;

test('killed with SIGKILL mid-stream and restarted, the ingester still gives exactly 100,000 rows as the analysis queries see them', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 3 }, dlq: {} });
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-sigkill-'));
  const groupId = `g-${topics.events}`;
  const file = join(dir, 'mlgate.yaml');
  writeConfig(file, {
    dataDir: dir,
    log: { level: 'info' },
    kafka: { brokers },
    warehouse: { engine: 'embedded', path: join(dir, 'clickhouse'), database: 'mlgate' },
    ingester: {
      topic: topics.events, dlqTopic: topics.dlq, groupId, sessionTimeoutMs: 6000, lagIntervalMs: 500,
      batch: { maxRows: 50_000, lingerMs: 200, minBytes: 1 }, http: { port: 0 },
    },
  });
  // Produce while the ingester runs, so batches are cut at the live tail (by linger and fetch
  // size, which differ from run to run): a restart that did not rebuild the killed batch exactly
  // would cut it elsewhere and store its rows twice. The pause between sends only paces.
  const producing = produce(brokers, topics.events, eventValues(TOTAL), 3, 600, 100);
  t.after(() => producing.catch(() => {}));

  let child: ChildIngester | undefined;
  t.after(() => { child?.proc.kill('SIGKILL'); });
  const progress = async () => (await groupProgress(brokers, groupId, topics.events)).committed;
  const rebuilt = (c: ChildIngester) => c.lines.filter((l) => l.includes('rebuilding batches from the ledger')).length;
  const rebuilds: number[] = [];
  const committedAtKill: number[] = [];
  // Each child kills itself with SIGKILL right before a commit: rows stored, offsets not.
  for (const at of [4, 3, 5]) {
    child = await spawnIngester(file, { killAtCommit: at });
    const c = child;
    const ended = await Promise.race([c.exited, setTimeout(90_000, undefined, { ref: false })]);
    assert.equal(ended?.signal, 'SIGKILL', `child did not kill itself:\n${c.lines.slice(-10).join('\n')}`);
    rebuilds.push(rebuilt(c));
    committedAtKill.push(await progress());
  }
  assert.ok(committedAtKill[0]! > 0 && committedAtKill[2]! < TOTAL, `kills were not mid-stream: ${committedAtKill.join(', ')}`);
  child = await spawnIngester(file);
  const last = child;
  await producing;
  await waitUntil('every offset committed', async () => (await progress()) === TOTAL, 120_000, 100);
  rebuilds.push(rebuilt(last));
  const health = await fetch(`http://127.0.0.1:${last.port}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
  assert.match(await last.metrics(), /^mlgate_ingester_rows_total \d+/m);
  last.proc.kill('SIGTERM');
  assert.deepEqual(await last.exited, { code: 0, signal: null }, `graceful exit:\n${last.lines.slice(-5).join('\n')}`);
  const admin = testKafka(brokers).admin();
  await admin.connect();
  const { groups } = await admin.describeGroups([groupId]);
  await admin.disconnect();
  assert.equal(groups[0]?.state, 'Empty', 'the stopped ingester left the group');
  // Every restart found the killed child's batch in the ledger and rebuilt it.
  assert.ok(rebuilds.slice(1).every((n) => n >= 1), `ledger rebuilds per child: ${rebuilds.join(', ')}`);
  t.diagnostic(`committed offsets at each kill: ${committedAtKill.join(', ')}`);

  const wh = await createWarehouse(WarehouseSection.parse({ engine: 'embedded', path: join(dir, 'clickhouse'), database: 'mlgate' }));
  t.after(() => wh.close());
  const [row] = await wh.query<Record<string, number>>(`SELECT count() AS n, uniqExact(event_id) AS ids,
      uniqExact(src_partition, src_offset) AS positions FROM {db}.requests`);
  assert.deepEqual(row, { n: TOTAL, ids: TOTAL, positions: TOTAL });
  const [agg] = await wh.query<Record<string, number>>('SELECT sum(requests) AS n, sum(errors) AS errors FROM {db}.requests_1m');
  assert.equal(Number(agg!.n), TOTAL);
  assert.equal(Number(agg!.errors), Math.ceil(TOTAL / 97));
  // The per-version counts the controller reads agree with the raw table.
  const byVersion = await wh.query<Record<string, number>>(`SELECT version, sum(requests) AS n FROM {db}.requests_1m
      WHERE model = {model:String} GROUP BY version ORDER BY version`, { model: 'm1' });
  const raw = await wh.query<Record<string, number>>(`SELECT version, count() AS n FROM {db}.requests
      WHERE model = {model:String} GROUP BY version ORDER BY version`, { model: 'm1' });
  assert.deepEqual(byVersion, raw);
});
