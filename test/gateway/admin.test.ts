/**
 * Admin API: bearer token, read state, weights, trip/reset, reload; every change validated
 * (400 and the old state stays), recorded (who, what, when), applied with a higher generation
 * and published on the control channel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, admin, model, gatewayConfig, asActor } from './helpers.ts';
import { InProcessControlChannel } from '../../services/routing/channel.ts';
import { MemoryAdminChangeRecorder, type AdminChangeRecorder } from '../../services/ledger/admin-changes.ts';
import type { RoutingState } from '../../services/routing/state.ts';

async function twoVersions(t: Parameters<typeof startStandIn>[0]['t']) {
  const s = await startStandIn({ name: 'stable', t });
  const c = await startStandIn({ name: 'canary', t });
  return { s, c, m: model({ stable: s.url, canary: c.url }, { weights: { stable: 90, canary: 10 }, fallback: 'stable' }) };
}

test('admin: every route needs the bearer token; metrics and healthz do not', async (t) => {
  const { m } = await twoVersions(t);
  const { gw } = await startTestGateway(t, { models: { m } });
  assert.equal((await call(`${gw.adminUrl}/admin/routing`)).status, 401);
  const wrong = await call(`${gw.adminUrl}/admin/routing`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error.code, 'MLG_GW_ADMIN_UNAUTHORIZED');
  assert.equal((await call(`${gw.adminUrl}/admin/models/m/weights`, { method: 'PUT', body: { weights: { stable: 50, canary: 50 } } })).status, 401);
  assert.equal(gw.routing.get('m')!.versions[1]!.weight, 10, 'an unauthenticated change changed nothing');
  assert.equal((await call(`${gw.adminUrl}/healthz`)).status, 200);
  assert.equal((await call(gw.metricsUrl)).status, 200);
  const ok = await admin(gw, 'GET', '/admin/routing');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.gateway_id, 'gw-test');
  assert.deepEqual(ok.json.models[0].state.versions, [{ name: 'stable', weight: 90, state: 'active' }, { name: 'canary', weight: 10, state: 'active' }]);
  assert.equal(ok.json.models[0].state.generation, 0);
});

test('admin: weights change with a higher generation, recorded and published; bad changes get 400', async (t) => {
  const { m } = await twoVersions(t);
  const control = new InProcessControlChannel();
  const published: RoutingState[] = [];
  control.subscribe((s) => published.push(s));
  const recorder = new MemoryAdminChangeRecorder();
  const { gw } = await startTestGateway(t, { models: { m } }, { control, recorder });
  const r = await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { stable: 70, canary: 30 }, reason: 'step 2' }, asActor('alice'));
  assert.equal(r.status, 200, r.text);
  const state = gw.routing.get('m')!;
  assert.deepEqual(state.versions.map((v) => v.weight), [70, 30]);
  assert.ok(state.generation > 0);
  assert.deepEqual({ kind: state.cause.kind, actor: state.cause.actor, reason: state.cause.reason, id: state.cause.id }, { kind: 'admin', actor: 'alice', reason: 'step 2', id: r.json.change_id });
  assert.equal(r.json.published, true);
  await new Promise<void>((resolve) => queueMicrotask(resolve));
  assert.equal(published.at(-1)!.generation, state.generation);
  const change = recorder.changes.at(-1)!;
  assert.deepEqual({ actor: change.actor, action: change.action, target: change.target, id: change.id }, { actor: 'alice', action: 'set_weights', target: 'm', id: r.json.change_id });
  assert.ok(Math.abs(change.at - Date.now()) < 60_000);
  assert.equal((change.before as RoutingState).versions[1]!.weight, 10);
  assert.equal((change.after as RoutingState).versions[1]!.weight, 30);

  const bad = [
    { weights: { stable: 70, canary: 40 } },
    { weights: { stable: 50, nope: 50 } },
    { weights: { stable: -1, canary: 101 } },
    { weights: {} },
    { weights: { stable: 100 }, extra: 1 },
  ];
  for (const body of bad) {
    const res = await admin(gw, 'PUT', '/admin/models/m/weights', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.error.code, 'MLG_GW_ADMIN_INVALID');
  }
  const notJson = await call(`${gw.adminUrl}/admin/models/m/weights`, { method: 'PUT', body: '{bad', headers: { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' } });
  assert.equal(notJson.status, 400);
  assert.deepEqual(gw.routing.get('m'), state, 'the old state stays after every bad change');
  assert.equal(recorder.changes.length, 1, 'refused changes are not recorded as applied changes');
  const changes = await admin(gw, 'GET', '/admin/changes');
  assert.equal(changes.json.changes.length, 1);
  assert.equal((await admin(gw, 'PUT', '/admin/models/zz/weights', { weights: { a: 100 } })).status, 404);
  const metrics = await (await fetch(gw.metricsUrl)).text();
  assert.match(metrics, /mlgate_gateway_admin_changes_total\{action="set_weights"[^}]*\} 1/);
  assert.match(metrics, /mlgate_gateway_version_weight\{model="m",version="canary"[^}]*\} 30/);
});

test('admin: a change that cannot be recorded is not applied', async (t) => {
  const { m } = await twoVersions(t);
  const failing: AdminChangeRecorder = { record: async () => { throw new Error('warehouse down'); } };
  const { gw } = await startTestGateway(t, { models: { m } }, { recorder: failing });
  const r = await admin(gw, 'POST', '/admin/models/m/versions/canary/trip', { reason: 'x' });
  assert.equal(r.status, 503);
  assert.equal(r.json.error.code, 'MLG_GW_ADMIN_RECORD_FAILED');
  assert.equal(gw.routing.get('m')!.versions[1]!.state, 'active');
  assert.equal(gw.routing.get('m')!.generation, 0);
});

test('admin: the control channel applies only higher generations and is read to the end on start', async (t) => {
  const { m } = await twoVersions(t);
  const control = new InProcessControlChannel();
  const base = (generation: number, canary: number): RoutingState => ({
    model: 'm', generation, fallback: 'stable',
    versions: [{ name: 'stable', weight: 100 - canary, state: 'active' }, { name: 'canary', weight: canary, state: 'active' }],
    cause: { kind: 'controller', actor: 'ctl-1', reason: 'step', id: 'd1', at: Date.now() },
  });
  await control.publish(base(5, 25));
  const { gw } = await startTestGateway(t, { models: { m } }, { control });
  assert.equal(gw.routing.get('m')!.generation, 5, 'the state on the channel wins over the file on start');
  await control.publish(base(4, 50));
  await control.publish(base(7, 40));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(gw.routing.get('m')!.generation, 7);
  assert.equal(gw.routing.get('m')!.versions[1]!.weight, 40);
  await control.publish({ ...base(9, 10), versions: [{ name: 'ghost', weight: 100, state: 'active' }], fallback: null });
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(gw.routing.get('m')!.generation, 7, 'a state naming an unknown version is refused');
  assert.equal(gw.applyState(base(6, 0)).applied, false);
  const metrics = await (await fetch(gw.metricsUrl)).text();
  assert.match(metrics, /mlgate_gateway_routing_refused_total\{source="control"[^}]*\} 2/);
  assert.match(metrics, /mlgate_gateway_routing_generation\{model="m"[^}]*\} 7/);
  // an admin change goes above the controller's generation
  const r = await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { stable: 100, canary: 0 } });
  assert.equal(r.status, 200);
  assert.ok(gw.routing.get('m')!.generation > 7);
});

test('admin: reload applies a new config file; an invalid one gets 400 and changes nothing', async (t) => {
  const { s, c, m } = await twoVersions(t);
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-reload-'));
  const file = join(dir, 'gateway.yaml');
  const write = (models: Record<string, unknown>) => writeFileSync(file, stringify({ port: 0, admin: { port: 0, token: 'test-admin-token-0123456789' }, models }));
  write({ m });
  const { gw } = await startTestGateway(t, { models: { m } }, {
    reload: async () => gatewayConfig((await import('yaml')).parse((await import('node:fs')).readFileSync(file, 'utf8'))),
  });
  await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { stable: 60, canary: 40 } });
  // unchanged weights in the file: the live state survives a reload; a new model appears
  write({ m, other: model({ v1: s.url }) });
  const r1 = await admin(gw, 'POST', '/admin/reload', { reason: 'add other' });
  assert.equal(r1.status, 200, r1.text);
  assert.deepEqual(r1.json.summary.added, ['other']);
  assert.equal(gw.routing.get('m')!.versions[1]!.weight, 40);
  assert.equal((await call(`${gw.url}/v1/models/other/predict`, { body: {} })).json.version, 'stable');
  // the file's weights changed: they apply with a new generation
  const before = gw.routing.get('m')!.generation;
  write({ m: model({ stable: s.url, canary: c.url }, { weights: { stable: 20, canary: 80 }, fallback: 'stable' }) });
  const r2 = await admin(gw, 'POST', '/admin/reload', {});
  assert.equal(r2.status, 200, r2.text);
  assert.deepEqual(r2.json.summary.removed, ['other']);
  assert.equal(gw.routing.get('m')!.versions[1]!.weight, 80);
  assert.ok(gw.routing.get('m')!.generation > before);
  assert.equal((await call(`${gw.url}/v1/models/other/predict`, { body: {} })).status, 404);
  // an invalid file changes nothing
  write({ m: model({ stable: s.url, canary: c.url }, { weights: { stable: 20, canary: 70 } }) });
  const r3 = await admin(gw, 'POST', '/admin/reload', {});
  assert.equal(r3.status, 400);
  assert.match(r3.json.error.message, /models\.m\.weights: weights must sum to 100/);
  assert.equal(gw.routing.get('m')!.versions[1]!.weight, 80);
});

test('admin: a reload that changes what the edge was built with (auth, rate limits) is refused, not silently ignored', async (t) => {
  const { s, m } = await twoVersions(t);
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-reload-edge-'));
  const file = join(dir, 'gateway.yaml');
  const write = (extra: Record<string, unknown>) => writeFileSync(file, stringify({ port: 0, admin: { port: 0, token: 'test-admin-token-0123456789' }, models: { m }, ...extra }));
  write({});
  const { gw } = await startTestGateway(t, { models: { m } }, {
    reload: async () => gatewayConfig((await import('yaml')).parse((await import('node:fs')).readFileSync(file, 'utf8'))),
  });
  const cases: Array<[string, Record<string, unknown>]> = [
    ['auth', { auth: { apiKeys: true } }],
    ['rateLimits', { rateLimits: { default: { requests: { requestsPerSecond: 1, burst: 1 } } } }],
  ];
  for (const [field, extra] of cases) {
    write(extra);
    const r = await admin(gw, 'POST', '/admin/reload', { reason: `enable ${field}` });
    assert.equal(r.status, 400, `${field}: ${r.text}`);
    assert.match(r.json.error.message, new RegExp(`only change on restart: .*gateway\\.${field}`), r.text);
    // nothing changed: requests still pass without a credential or a limit
    for (let i = 0; i < 3; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: {} })).status, 200);
  }
  void s;
});
