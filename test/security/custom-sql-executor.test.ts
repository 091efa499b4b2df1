/**
 * custom_sql's second layer, on the embedded engine: the provider's executor (runCustom, which
 * skips the static check) runs text the check would refuse on a read-only session. Writes, DDL,
 * DROP, several statements, SETTINGS changes and the file()/url() table functions fail there, the
 * bounds hold, the audit tables are intact afterwards, and the main session still writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClickHouseMetricsProvider } from '../../services/controller/service/providers/clickhouse.ts';
import { checkCustomSql } from '../../services/controller/service/providers/custom-sql.ts';
import { embeddedWarehouse, count } from '../warehouse/support.ts';

const FORBIDDEN = [
  'CREATE TABLE {db}.stolen (x String) ENGINE = Memory',
  "INSERT INTO {db}.canary_decisions (rollout_id) VALUES ('forged')",
  'DROP TABLE {db}.canary_decisions',
  'TRUNCATE TABLE {db}.admin_changes',
  "SELECT * FROM file('/etc/passwd', 'LineAsString')",
  "SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')",
  'SELECT 1; DROP TABLE {db}.canary_decisions',
  'SELECT 1; CREATE TABLE {db}.stolen (x String) ENGINE = Memory',
  'SELECT 1 SETTINGS readonly = 0',
  'SELECT count() FROM numbers(10) SETTINGS max_execution_time = 0',
];

test('custom_sql executor: the read-only session refuses writes, DDL and table functions the check would have caught', async (t) => {
  const wh = await embeddedWarehouse(t);
  const provider = new ClickHouseMetricsProvider({ warehouse: wh, queryTimeoutMs: 5000, customSql: { maxResultRows: 100 } });
  const params = { from: '2020-01-01 00:00:00.000', to: '2020-01-01 00:00:01.000', from_ms: 0, to_ms: 1, model: 'm', version: 'v', rollout_id: 'r' };
  for (const sql of FORBIDDEN) {
    assert.throws(() => checkCustomSql(sql), /MLG_CTL_CUSTOM_SQL_INVALID|custom_sql:/, `the check refuses ${sql}`);
    await assert.rejects(provider.runCustom('x', sql, params), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MLG_CTL_COLLECT_FAILED', sql);
      assert.match(err.message, /readonly mode|Cannot modify|Syntax error/, `${sql}: ${err.message}`);
      return true;
    }, sql);
  }
  // Bounds: more rows than maxResultRows fail the query.
  await assert.rejects(provider.runCustom('x', 'SELECT number FROM system.numbers LIMIT 1000', params), /Limit for result exceeded/);

  // Nothing was written or dropped; the main session is not read-only; a good query still answers.
  assert.equal(await count(wh, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'stolen'", { db: wh.database }), 0);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.canary_decisions'), 0);
  await wh.command("INSERT INTO {db}.admin_changes (change_id, actor) VALUES ('probe', 'test')");
  assert.equal(await count(wh, 'SELECT count() FROM {db}.admin_changes'), 1);
  const rows = await provider.runCustom('x', 'SELECT count() AS n, {model:String} AS m FROM {db}.requests WHERE model = {model:String}', params);
  assert.deepEqual(rows, [{ n: 0, m: 'm' }]);
});
