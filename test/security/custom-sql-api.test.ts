/**
 * custom_sql through the running controller API (embedded engine, in-process control channel):
 * an operator's POST of a rollout whose custom_sql would run a second statement, read the host's
 * files or another database's tables, or change settings gets a 400 MLG_CTL_CUSTOM_SQL_INVALID
 * naming the problem, and nothing is created; a rollout with a legitimate custom_sql is created.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { InProcessControlChannel } from '../../services/routing/channel.ts';
import { ControllerSection } from '../../services/controller/service/config.ts';
import { startController } from '../../services/controller/service/controller.ts';
import { call } from '../gateway/helpers.ts';
import { waitUntil } from '../support/infra.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';

const OPERATOR = 'mallory-operator-token-012345678';
const SPEC = { id: 'fraud-v2', model: 'fraud', stable: 'v1', canary: 'v2', fallback: 'v1', steps: [10, 50, 100] };
const metric = (sql: string) => ({ ...SPEC, metrics: [{ kind: 'custom_sql', name: 'q', direction: 'higher_is_worse', sql }] });

const HOSTILE: Array<[string, RegExp]> = [
  ["SELECT 1 -- '\n; CREATE TABLE {db}.x (a UInt8) ENGINE = Memory; SELECT 1 --'", /must be a single statement \(found ';'/],
  ["SELECT * FROM file('/etc/mlgate/config.yaml', 'LineAsString')", /FROM file\(…\): table functions are refused/],
  ["SELECT count() FROM {db}.requests WHERE model IN (SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString'))", /FROM url\(…\): table functions are refused/],
  ['SELECT name FROM system.users', /FROM system\.users: .*system tables are refused/],
  ['SELECT count() FROM {db}.canary_decisions', /FROM \{db\}\.canary_decisions: only \{db\}\.requests and \{db\}\.requests_1m may be read/],
  ['SELECT 1 SETTINGS readonly = 0', /must not carry SETTINGS/],
];

test('controller API: an operator cannot create a rollout whose custom_sql escapes the read-only SELECT', async (t) => {
  const wh = await embeddedWarehouse(t);
  const config = ControllerSection.parse({ instanceId: 'csql-test', port: 0, loopMs: 50, tokens: [{ name: 'mallory', token: OPERATOR }] });
  const c = await startController({ config, registry: new Registry(), warehouse: wh, control: new InProcessControlChannel() });
  t.after(() => c.close());
  await waitUntil('leadership', () => c.isLeader(), 10_000);
  const post = (body: unknown) => call(`${c.url}/v1/rollouts`, { body, headers: { authorization: `Bearer ${OPERATOR}` } });

  for (const [sql, msg] of HOSTILE) {
    const res = await post(metric(sql));
    assert.equal(res.status, 400, sql);
    assert.equal(res.json.error.code, 'MLG_CTL_CUSTOM_SQL_INVALID', sql);
    assert.match(res.json.error.message, /metrics\.0\.sql: /, sql);
    assert.match(res.json.error.message, msg, `${sql} -> ${res.json.error.message}`);
  }
  assert.deepEqual((await call(`${c.url}/v1/rollouts`, { headers: { authorization: `Bearer ${OPERATOR}` } })).json, { rollouts: [] });

  const good = await post(metric("SELECT avg(latency_ms) FROM {db}.requests WHERE model = {model:String} AND version = {version:String} AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}"));
  assert.equal(good.status, 201, good.text);
});
