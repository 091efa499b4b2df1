/**
 * custom_sql's read-only layer on a ClickHouse server: Warehouse.queryReadOnly sends readonly = 1
 * and the bounds with the request, so DDL, table functions, SETTINGS changes and oversized results
 * fail for that query, while the same warehouse still writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needClickHouseServer } from '../support/infra.ts';
import { count, serverWarehouse } from '../warehouse/support.ts';

test('warehouse server: queryReadOnly refuses DDL, table functions and settings changes, and bounds the result', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const wh = await serverWarehouse(t, url);
  const o = { maxExecutionS: 5, maxResultRows: 10, maxMemoryBytes: 2 ** 30 };
  assert.deepEqual(await wh.queryReadOnly('SELECT 1 AS a', undefined, o), [{ a: 1 }]);
  const refused: Array<[string, RegExp]> = [
    ['CREATE TABLE {db}.stolen (x UInt8) ENGINE = Memory', /readonly mode/],
    ["SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')", /readonly mode/],
    ["SELECT * FROM file('x', 'CSV', 'a String')", /readonly mode/],
    ['SELECT 1 AS a SETTINGS readonly = 0', /readonly mode/],
    ['SELECT number FROM system.numbers LIMIT 100', /Limit for result exceeded/],
  ];
  for (const [sql, msg] of refused) await assert.rejects(wh.queryReadOnly(sql, undefined, o), msg, sql);
  await wh.command('CREATE TABLE {db}.probe (x UInt8) ENGINE = Memory');
  await wh.command('INSERT INTO {db}.probe VALUES (1)');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.probe'), 1);
});
