// The server adapter against a real ClickHouse server process (Debian's 18.16): what that version
// can show. The full schema and parameterised queries run on the embedded engine (embedded.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needClickHouseServer, chdbPath, uniqueName } from '../support/infra.ts';
import { sampleEvent } from '../support/events.ts';
import { REDUCED_REQUESTS_DDL, count, serverWarehouse } from './support.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { createWarehouse, type Warehouse } from '../../services/warehouse/warehouse.ts';
import { migrate } from '../../services/warehouse/migrate.ts';
import { toRequestRow } from '../../services/warehouse/request-rows.ts';

const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

function events(n: number) {
  return Array.from({ length: n }, (_, i) => toRequestRow(sampleEvent({
    version: i % 4 === 0 ? 'v2' : 'v1', consumer_id: `c${i % 37}`, latency_ms: (i % 250) / 4, status: i % 50 === 0 ? 503 : 200,
    outcome: i % 50 === 0 ? 'upstream_error' : 'ok', prediction_score: i % 3 === 0 ? null : (i % 100) / 100, ts: 1_750_000_000_000 + i,
  }), { topic: 't', partition: 0, offset: i }));
}

test('server: connects, reports its version, answers ping', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const wh = await serverWarehouse(t, url);
  assert.equal(wh.engine, 'server');
  assert.match(await wh.serverVersion(), /^\d+\.\d+/);
  assert.equal(await wh.ping(), true);
});

test('server: a wrong password is MLG_WH_AUTH_FAILED and ping is false; the right one works', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const bad = await createWarehouse(WarehouseSection.parse({ url, username: 'mlgate', password: 'wrong' }));
  t.after(() => bad.close());
  await assert.rejects(bad.query('SELECT 1 AS x'), code('MLG_WH_AUTH_FAILED'));
  assert.equal(await bad.ping(), false);
  const good = await createWarehouse(WarehouseSection.parse({ url, username: 'mlgate', password: 'mlgate' }));
  t.after(() => good.close());
  assert.deepEqual(await good.query('SELECT 1 AS x'), [{ x: 1 }]);
});

test('server: batch inserts of full events into a reduced table skip the unknown fields', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const wh = await serverWarehouse(t, url);
  await wh.command(REDUCED_REQUESTS_DDL);
  const rows = events(20_000);
  for (let i = 0; i < rows.length; i += 5000) await wh.insert('requests', rows.slice(i, i + 5000), { skipUnknownFields: true });
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 20_000);
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 20_000);
  assert.equal(await count(wh, "SELECT countIf(outcome = 'upstream_error') FROM {db}.requests"), 400);
  await assert.rejects(wh.insert('requests', rows.slice(0, 1)), code('MLG_WH_DATA_REJECTED'), 'unknown fields without skipUnknownFields must fail');
});

test('server: errors map to catalogue codes; the full schema is refused with the version named', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const wh = await serverWarehouse(t, url);
  await assert.rejects(wh.query('SELECT * FROM {db}.nope'), code('MLG_WH_QUERY_FAILED'));
  await assert.rejects(wh.query('SELECT {x:UInt8} AS x', { x: 1 }), code('MLG_WH_UNSUPPORTED'));
  await assert.rejects(migrate(wh), (e: Error & { code?: string }) => e.code === 'MLG_WH_UNSUPPORTED' && /18\.16|too old/.test(e.message));
  const down = await createWarehouse(WarehouseSection.parse({ url: 'http://127.0.0.1:28129', requestTimeoutMs: 2000 }));
  t.after(() => down.close());
  await assert.rejects(down.query('SELECT 1'), code('MLG_WH_UNAVAILABLE'));
  assert.equal(await down.ping(), false);
});

/** Queries both engines answer; no parameters (18.16 has none). */
const PARITY_QUERIES = [
  'SELECT count() AS n, sum(status) AS s, uniqExact(consumer_id) AS consumers FROM {db}.requests',
  'SELECT version, count() AS n, round(avg(latency_ms), 4) AS mean, max(latency_ms) AS mx FROM {db}.requests GROUP BY version ORDER BY version',
  'SELECT outcome, count() AS n FROM {db}.requests GROUP BY outcome ORDER BY outcome',
  'SELECT count(prediction_score) AS scored, round(sum(prediction_score), 4) AS total FROM {db}.requests',
  'SELECT consumer_id, count() AS n FROM {db}.requests GROUP BY consumer_id ORDER BY n DESC, consumer_id LIMIT 5',
  "SELECT quantileExact(0.5)(latency_ms) AS p50, quantileExact(0.99)(latency_ms) AS p99 FROM {db}.requests WHERE outcome = 'ok'",
  'SELECT min(ts) AS first, max(ts) AS last, max(src_offset) AS off FROM {db}.requests',
];

test('parity: the server and the embedded engine give the same answers to the same SQL', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const server = await serverWarehouse(t, url);
  const embedded = await createWarehouse(WarehouseSection.parse({ engine: 'embedded', path: chdbPath(), database: uniqueName('par') }));
  await embedded.command('CREATE DATABASE IF NOT EXISTS {db}');
  t.after(async () => { await embedded.command('DROP DATABASE IF EXISTS {db}'); await embedded.close(); });
  const rows = events(3000);
  for (const wh of [server, embedded] as Warehouse[]) {
    await wh.command(REDUCED_REQUESTS_DDL);
    await wh.insert('requests', rows, { skipUnknownFields: true });
  }
  for (const sql of PARITY_QUERIES) {
    const norm = (rs: Array<Record<string, unknown>>) => rs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)])));
    const a = norm(await server.query(sql));
    const b = norm(await embedded.query(sql));
    assert.ok(a.length > 0, `no rows for ${sql}`);
    assert.deepEqual(b, a, sql);
  }
});
