import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@clickhouse/client';
import { chdbClient, needClickHouseServer, testDatabase } from '../support/infra.ts';

test('embedded ClickHouse (chdb) answers SELECT version() and keeps a table in its own database', async (t) => {
  const ch = chdbClient();
  const rows = await (await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>();
  assert.match(rows[0]!.v, /^2\d\.\d+/);
  const db = await testDatabase(t, ch);
  await ch.command({ query: `CREATE TABLE ${db}.t (x UInt32) ENGINE = MergeTree ORDER BY x` });
  await ch.insert({ table: `${db}.t`, values: [{ x: 1 }, { x: 2 }], format: 'JSONEachRow' });
  const c = await (await ch.query({ query: `SELECT count() AS c FROM ${db}.t`, format: 'JSONEachRow' })).json<{ c: string | number }>();
  assert.equal(Number(c[0]!.c), 2);
});

test('ClickHouse server answers SELECT version() over HTTP', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const ch = createClient({ url });
  t.after(() => ch.close());
  const rows = await (await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>();
  assert.match(rows[0]!.v, /^\d+\.\d+/);
});
