/**
 * Admin changes to consumers and API key hashes over real sockets: a consumer added through the
 * admin API calls at once, a revoked key and a removed consumer get 401 right after, a bad change
 * gets 400 naming the field and the old table stays, every change is recorded with its actor and
 * key ids only, and the routes need the admin token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryAdminChangeRecorder } from '../../../services/ledger/admin-changes.ts';
import { createApiKey } from '../../../services/gateway/edge/api-keys.ts';
import { startStandIn } from '../../support/upstream.ts';
import { admin, asActor, call, gatewayConfig, model, startTestGateway } from '../helpers.ts';

test('consumers and keys change through the admin API, validated and recorded', async (t) => {
  const up = await startStandIn({ name: 'm', t });
  const old = createApiKey();
  const fresh = createApiKey();
  const extra = createApiKey();
  const recorder = new MemoryAdminChangeRecorder();
  const { gw } = await startTestGateway(t, {
    models: { m: model({ v1: up.url }), other: model({ v1: up.url }) },
    consumers: { acme: { keys: [old.hash], models: ['m'] } },
  }, { recorder });
  const predict = (key: string, m = 'm') => call(`${gw.url}/v1/models/${m}/predict`, { body: { x: 1 }, headers: { 'x-api-key': key } });
  const as = asActor('alice');

  assert.equal((await predict(old.key)).status, 200);
  assert.equal((await predict(fresh.key)).status, 401, 'not a consumer yet');

  // unauthenticated admin calls change nothing
  const unauth = await call(`${gw.adminUrl}/admin/consumers/newco`, { method: 'PUT', body: { keys: [fresh.hash], models: ['m'] } });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.json.error.code, 'MLG_GW_ADMIN_UNAUTHORIZED');
  assert.equal((await call(`${gw.adminUrl}/admin/consumers`)).status, 401);
  assert.equal((await predict(fresh.key)).status, 401);

  // add a consumer: its key works immediately
  let r = await admin(gw, 'PUT', '/admin/consumers/newco', { keys: [fresh.hash], models: ['m'], pin: ['m'], reason: 'onboard' }, as);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.consumer, { id: 'newco', models: ['m'], pin: ['m'], limits: null, key_ids: [fresh.keyId] });
  assert.equal((await predict(fresh.key)).status, 200);
  assert.equal((await predict(fresh.key, 'other')).status, 403, 'only its models');

  // the list shows key ids, never hashes or keys
  r = await admin(gw, 'GET', '/admin/consumers');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.consumers.map((c: { id: string; key_ids: string[] }) => [c.id, c.key_ids]), [['acme', [old.keyId]], ['newco', [fresh.keyId]]]);
  assert.ok(!r.text.includes(fresh.hash.slice(16)) && !r.text.includes(old.hash.slice(16)), 'no hash digest in the list');

  // add a key, then revoke it: 401 right after
  r = await admin(gw, 'POST', '/admin/consumers/newco/keys', { hash: extra.hash, reason: 'second key' }, as);
  assert.equal(r.status, 200, r.text);
  assert.equal((await predict(extra.key)).status, 200);
  r = await admin(gw, 'DELETE', `/admin/keys/${extra.keyId}`, { reason: 'leaked' }, as);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.consumer.key_ids, [fresh.keyId]);
  assert.equal((await predict(extra.key)).status, 401);
  assert.equal((await predict(fresh.key)).status, 200, 'its other key still works');

  // bad changes: 400 naming the field, and the previous consumers still work
  const countBefore = recorder.changes.length;
  const bad: Array<[string, string, unknown, RegExp]> = [
    ['PUT', '/admin/consumers/evil', { keys: [fresh.hash.slice(0, -1)], models: ['m'] }, /consumers\.evil\.keys\.0: expected an API key hash/],
    ['PUT', '/admin/consumers/evil', { keys: [], models: ['nope'] }, /consumers\.evil\.models\.0: unknown model nope/],
    ['PUT', '/admin/consumers/evil', { models: ['m'], limits: { models: { ghost: { requestsPerSecond: 1 } } } }, /consumers\.evil\.limits\.models\.ghost: unknown model ghost/],
    ['PUT', '/admin/consumers/evil', { models: ['m'], colour: 'red' }, /consumers\.evil: Unrecognized key.*colour/],
    ['PUT', '/admin/consumers/evil', { keys: [old.hash], models: ['m'] }, /consumers\.evil\.keys\.0: key id [0-9a-f]{8} is already used by consumer acme/],
    ['PUT', '/admin/consumers/bad%20id', { models: ['m'] }, /consumers\.bad id: expected a name/],
    ['POST', '/admin/consumers/acme/keys', { hash: 'sha256:zz:00' }, /consumers\.acme\.keys\.1: expected an API key hash/],
    ['POST', '/admin/consumers/ghost/keys', { hash: extra.hash }, /consumer ghost does not exist/],
    ['DELETE', '/admin/keys/not-hex', {}, /keyId: expected 8 hex digits/],
    ['DELETE', '/admin/consumers/ghost', {}, /consumer ghost does not exist/],
  ];
  for (const [method, path, body, message] of bad) {
    r = await admin(gw, method, path, body, as);
    assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
    assert.equal(r.json.error.code, 'MLG_GW_ADMIN_INVALID');
    assert.match(r.json.error.message, message);
  }
  assert.equal(recorder.changes.length, countBefore, 'a refused change is not recorded');
  assert.equal((await predict(old.key)).status, 200);
  assert.equal((await predict(fresh.key)).status, 200);
  assert.deepEqual((await admin(gw, 'GET', '/admin/consumers')).json.consumers.map((c: { id: string }) => c.id), ['acme', 'newco']);

  // remove a consumer: 401 right after
  r = await admin(gw, 'DELETE', '/admin/consumers/newco', { reason: 'offboard' }, asActor('bob'));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.consumer, null);
  assert.equal((await predict(fresh.key)).status, 401);
  assert.equal((await predict(old.key)).status, 200);

  // every change recorded: actor, action, target, before/after with key ids only
  const changes = recorder.changes.map((c) => ({ actor: c.actor, action: c.action, target: c.target, reason: c.reason }));
  assert.deepEqual(changes, [
    { actor: 'alice', action: 'consumer.upsert', target: 'consumer:newco', reason: 'onboard' },
    { actor: 'alice', action: 'key.add', target: `key:${extra.keyId}`, reason: 'second key' },
    { actor: 'alice', action: 'key.revoke', target: `key:${extra.keyId}`, reason: 'leaked' },
    { actor: 'bob', action: 'consumer.remove', target: 'consumer:newco', reason: 'offboard' },
  ]);
  const [upsert, add, revoke, remove] = recorder.changes;
  assert.equal(upsert!.before, null);
  assert.deepEqual((upsert!.after as { key_ids: string[] }).key_ids, [fresh.keyId]);
  assert.deepEqual((add!.after as { key_ids: string[] }).key_ids, [fresh.keyId, extra.keyId]);
  assert.deepEqual((revoke!.before as { key_ids: string[] }).key_ids, [fresh.keyId, extra.keyId]);
  assert.deepEqual((revoke!.after as { key_ids: string[] }).key_ids, [fresh.keyId]);
  assert.deepEqual((remove!.before as { id: string }).id, 'newco');
  assert.equal(remove!.after, null);
  const recorded = JSON.stringify(recorder.changes);
  for (const k of [old, fresh, extra]) {
    assert.ok(!recorded.includes(k.key), 'no raw key recorded');
    assert.ok(!recorded.includes(k.hash.split(':')[2]!), 'no hash digest recorded');
  }
  const metrics = await admin(gw, 'GET', '/metrics');
  for (const action of ['consumer.upsert', 'key.add', 'key.revoke', 'consumer.remove']) {
    assert.match(metrics.text, new RegExp(`mlgate_gateway_admin_changes_total\\{[^}]*action="${action.replace('.', '\\.')}"[^}]*\\} 1`));
  }
});

test('consumer changes on a gateway without the edge get 400 and change nothing', async (t) => {
  const up = await startStandIn({ name: 'm', t });
  const recorder = new MemoryAdminChangeRecorder();
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: up.url }) } }, { recorder });
  const r = await admin(gw, 'PUT', '/admin/consumers/acme', { keys: [createApiKey().hash], models: ['m'] });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /the edge is off/);
  assert.equal(recorder.changes.length, 0);
  assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).status, 200, 'still anonymous');
});

test('a reload keeps API consumer changes unless the file\'s consumers changed, then resets to the file', async (t) => {
  const up = await startStandIn({ name: 'm', t });
  const a = createApiKey();
  const b = createApiKey();
  const recorder = new MemoryAdminChangeRecorder();
  let file: Record<string, unknown> = { models: { m: model({ v1: up.url }) }, consumers: { acme: { keys: [a.hash], models: ['m'] } } };
  const { gw } = await startTestGateway(t, file, { recorder, reload: () => gatewayConfig(file) });
  const predict = (key: string) => call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 }, headers: { 'x-api-key': key } });
  assert.equal((await admin(gw, 'PUT', '/admin/consumers/beta', { keys: [b.hash], models: ['m'] })).status, 200);
  let r = await admin(gw, 'POST', '/admin/reload', {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.summary.consumers, 'kept');
  assert.equal((await predict(b.key)).status, 200, 'unchanged file: the API change stays');
  file = { ...file, consumers: { acme: { keys: [a.hash], models: ['m'], pin: true } } };
  r = await admin(gw, 'POST', '/admin/reload', {}, asActor('carol'));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.summary.consumers, 'from_file');
  assert.equal((await predict(b.key)).status, 401, 'the file\'s consumers replaced the table');
  assert.equal((await predict(a.key)).status, 200);
  const reload = recorder.changes.at(-1)!;
  assert.equal(reload.action, 'reload');
  assert.equal(reload.actor, 'carol');
  const c = (reload.after as { consumers: { before: Array<{ id: string }>; after: Array<{ id: string; key_ids: string[] }> } }).consumers;
  assert.deepEqual(c.before.map((x) => x.id), ['acme', 'beta']);
  assert.deepEqual(c.after.map((x) => [x.id, x.key_ids]), [['acme', [a.keyId]]]);
  assert.ok(!JSON.stringify(reload).includes(a.hash.split(':')[2]!), 'no hash digest in the reload record');
});
