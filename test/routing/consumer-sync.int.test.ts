// Consumer and API-key changes made through one gateway's admin API reach every gateway and
// survive a restart: two gateways follow one consumer-table topic on the real broker.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { needKafka, waitUntil, withTopics } from '../support/infra.ts';
import { startStandIn } from '../support/upstream.ts';
import { admin, call, model, startTestGateway } from '../gateway/helpers.ts';
import { createApiKey } from '../../services/gateway/edge/api-keys.ts';
import { createConsumerChannel } from '../../services/routing/consumer-state.ts';
import { followConsumerTables } from '../../services/gateway/consumer-sync.ts';
import { silentLogger } from '../../services/core/log.ts';

async function gatewayFollowing(t: TestContext, brokers: string[], topic: string, file: Record<string, unknown>, id: string) {
  const { gw } = await startTestGateway(t, file, { gatewayId: id });
  const channel = createConsumerChannel({ brokers, clientId: `test-${id}`, topic, logger: silentLogger() });
  const sync = await followConsumerTables(gw, { channel, kafka: { clientId: 'unused' }, logger: silentLogger(), startupTimeoutMs: 30_000 });
  assert.equal(sync.active, true);
  const stop = async () => { await sync.close(); await channel.close(); await gw.close(); };
  t.after(stop);
  return { gw, channel, stop, predict: (key: string) => call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 }, headers: { 'x-api-key': key } }) };
}

test('a key added on gateway A works on B, a key revoked on B stops on A, and a restarted gateway keeps both changes', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const { consumers: topic } = await withTopics(t, brokers, { consumers: { compacted: true } });
  const up = await startStandIn({ name: 'm', t });
  const old = createApiKey();
  const fresh = createApiKey();
  const file = { models: { m: model({ v1: up.url }) }, consumers: { acme: { keys: [old.hash], models: ['m'] } } };
  const a = await gatewayFollowing(t, brokers, topic, file, 'gw-a');
  const b = await gatewayFollowing(t, brokers, topic, file, 'gw-b');
  assert.equal((await b.predict(fresh.key)).status, 401, 'not a key yet');

  let r = await admin(a.gw, 'POST', '/admin/consumers/acme/keys', { hash: fresh.hash });
  assert.equal(r.status, 200, r.text);
  await waitUntil('the key added on A works on B', async () => (await b.predict(fresh.key)).status === 200, 30_000, 100);

  r = await admin(b.gw, 'DELETE', `/admin/keys/${old.keyId}`, {});
  assert.equal(r.status, 200, r.text);
  await waitUntil('the key revoked on B stops on A', async () => (await a.predict(old.key)).status === 401, 30_000, 100);
  assert.equal((await a.predict(fresh.key)).status, 200);

  // Restart A from the same file (which still has the old key and not the new one).
  await a.stop();
  const a2 = await gatewayFollowing(t, brokers, topic, file, 'gw-a');
  assert.equal((await a2.predict(old.key)).status, 401, 'the revocation survives the restart');
  assert.equal((await a2.predict(fresh.key)).status, 200, 'the added key survives the restart');
  assert.ok(a2.gw.admin.consumers.tableGeneration > 0);

  // A third change, made on the restarted gateway, reaches B.
  const third = createApiKey();
  r = await admin(a2.gw, 'PUT', '/admin/consumers/beta', { keys: [third.hash], models: ['m'] });
  assert.equal(r.status, 200, r.text);
  await waitUntil('the consumer added on restarted A works on B', async () => (await b.predict(third.key)).status === 200, 30_000, 100);
});

test('a published table naming a model this gateway lacks is refused whole; the table in force stays', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const { consumers: topic } = await withTopics(t, brokers, { consumers: { compacted: true } });
  const up = await startStandIn({ name: 'm', t });
  const key = createApiKey();
  const a = await gatewayFollowing(t, brokers, topic, { models: { m: model({ v1: up.url }) }, consumers: { acme: { keys: [key.hash], models: ['m'] } } }, 'gw-a');
  const before = a.gw.admin.consumers.tableGeneration;
  await a.channel.publish({ generation: Date.now(), consumers: { acme: { keys: [key.hash], models: ['nope'] } }, cause: { actor: 'x', action: 'consumer.upsert', id: 'bad', at: Date.now(), gateway: 'elsewhere' } });
  // readLatest returns once this channel (the one the gateway follows) has read to the end: the
  // gateway's handler has seen the bad table by then.
  assert.equal((await a.channel.readLatest())?.cause.id, 'bad');
  assert.equal(a.gw.admin.consumers.tableGeneration, before, 'not applied');
  assert.equal((await a.predict(key.key)).status, 200);
});
