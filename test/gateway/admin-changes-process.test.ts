// `mlgate gateway` (the gateway process, distributed mode) records admin changes in the
// hash-chained `admin_changes` table of the configured warehouse, like embedded mode, and the
// chain continues across a restart. The warehouse is the embedded engine (chdb) on a fresh
// database; the process is started through runGateway, as the CLI does.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chdbPath } from '../support/infra.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';
import { runGateway } from '../../services/gateway/main.ts';
import { verifyChains } from '../../services/audit/verify.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { ADMIN_TOKEN, asActor, call, HASH_KEY } from './helpers.ts';

function writeConfig(t: TestContext, warehouse: Record<string, unknown> | undefined): string {
  const dir = tempDir(t, 'gw-admin-rec');
  const file = join(dir, 'mlgate.yaml');
  writeFileSync(file, stringify({
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    gateway: {
      id: 'gw-proc-1', port: 0,
      admin: { port: 0, token: ADMIN_TOKEN, tokens: [{ name: 'alice', token: 'test-admin-token-of-alice-0123456789' }] },
      models: { m: { versions: { v1: { targets: ['http://127.0.0.1:9'] }, v2: { targets: ['http://127.0.0.1:9'] } }, weights: { v1: 100, v2: 0 } } },
    },
    telemetry: { hashing: { key: HASH_KEY, keyId: 'k1' } },
    ...(warehouse ? { warehouse } : {}),
  }));
  return file;
}

async function setWeights(adminUrl: string, weights: Record<string, number>): Promise<number> {
  const r = await call(`${adminUrl}/admin/models/m/weights`, { method: 'PUT', body: { weights, reason: 'test' }, headers: asActor('alice') });
  return r.status;
}

interface ChangeRow { chain_id: string; seq: string; actor: string; action: string; target: string; after: string }

async function changes(wh: Warehouse): Promise<ChangeRow[]> {
  return wh.query<ChangeRow>('SELECT chain_id, toString(seq) AS seq, actor, action, target, after FROM {db}.admin_changes ORDER BY seq');
}

test('the gateway process with a warehouse section records admin changes in admin_changes, one chain across a restart', async (t) => {
  const wh = await embeddedWarehouse(t);
  const file = writeConfig(t, { engine: 'embedded', path: chdbPath(), database: wh.database });

  const first = await runGateway({ configFile: file, env: {}, logDestination: { write: () => undefined } });
  cleanup(t, () => first.stop());
  assert.equal(await setWeights(first.gateway.adminUrl, { v1: 90, v2: 10 }), 200);
  const one = await changes(wh);
  assert.equal(one.length, 1, 'the change is stored before the API answers');
  assert.deepEqual({ chain: one[0]!.chain_id, seq: one[0]!.seq, actor: one[0]!.actor, action: one[0]!.action, target: one[0]!.target },
    { chain: 'gw-proc-1', seq: '1', actor: 'alice', action: 'set_weights', target: 'm' });
  assert.match(one[0]!.after, /"name":"v2","weight":10/);
  const listed = await call(`${first.gateway.adminUrl}/admin/changes`, { headers: asActor('alice') });
  assert.equal(listed.status, 400, 'the in-memory list is not the record here');
  await first.stop();

  const second = await runGateway({ configFile: file, env: {}, logDestination: { write: () => undefined } });
  cleanup(t, () => second.stop());
  assert.equal(await setWeights(second.gateway.adminUrl, { v1: 50, v2: 50 }), 200);
  const two = await changes(wh);
  assert.deepEqual(two.map((c) => [c.chain_id, c.seq]), [['gw-proc-1', '1'], ['gw-proc-1', '2']], 'the restarted gateway continues its chain');
  const report = await verifyChains(wh, { tables: ['admin_changes'] });
  assert.equal(report.ok, true, JSON.stringify(report.firstBreak));
  await second.stop();
});

test('without a warehouse section the gateway process keeps admin changes in memory (GET /admin/changes lists them)', async (t) => {
  const file = writeConfig(t, undefined);
  const proc = await runGateway({ configFile: file, env: {}, logDestination: { write: () => undefined } });
  cleanup(t, () => proc.stop());
  assert.equal(await setWeights(proc.gateway.adminUrl, { v1: 80, v2: 20 }), 200);
  const listed = await call(`${proc.gateway.adminUrl}/admin/changes`, { headers: asActor('alice') });
  assert.equal(listed.status, 200);
  assert.match(listed.text, /set_weights/);
});
