/**
 * The controller service on the embedded engine with an in-process control channel: the HTTP API
 * (tokens and roles, validation naming the field, YAML bodies, conflicts, bad transitions), every
 * manual operation recorded in canary_decisions with its actor and evidence and recomputable,
 * routing states published with generations above the ones seen, metrics, and a restarted
 * controller resuming the rollout from the store without duplicating a decision.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { InProcessControlChannel } from '../../../services/routing/channel.ts';
import type { RoutingState } from '../../../services/routing/state.ts';
import { ControllerSection } from '../../../services/controller/service/config.ts';
import { recompute } from '../../../services/controller/rollout/recompute.ts';
import { startController, type RunningController, type StartControllerOptions } from '../../../services/controller/service/controller.ts';
import type { Warehouse } from '../../../services/warehouse/warehouse.ts';
import { call } from '../../gateway/helpers.ts';
import { waitUntil } from '../../support/infra.ts';
import { embeddedWarehouse } from '../../warehouse/support.ts';

const ALICE = 'alice-operator-token-0123456789';
const BOB = 'bob-viewer-token-0123456789abcd';

async function controller(t: TestContext, over: Partial<StartControllerOptions> & { warehouse: Warehouse; control: InProcessControlChannel }, cfg: Record<string, unknown> = {}): Promise<RunningController> {
  const config = ControllerSection.parse({
    instanceId: 'api-test', port: 0, loopMs: 50, tickOverride: { intervalS: 1, lagS: 0 },
    tokens: [{ name: 'alice', token: ALICE }, { name: 'bob', token: BOB, role: 'viewer' }], ...cfg,
  });
  const c = await startController({ config, registry: new Registry(), ...over });
  t.after(() => c.close());
  await waitUntil('leadership', () => c.isLeader(), 10_000);
  return c;
}

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const SPEC = { id: 'fraud-v2', model: 'fraud', stable: 'v1', canary: 'v2', fallback: 'v1', steps: [10, 50, 100] };

interface Row { decision_id: string; action: string; actor: string; reason: string; weight_before: number; weight_after: number; generation: number; evidence: string; seq: number }
const rows = (wh: Warehouse, id: string) => wh.query<Row>(
  'SELECT decision_id, action, actor, reason, weight_before, weight_after, generation, evidence, seq FROM {db}.canary_decisions WHERE rollout_id = {id:String} ORDER BY seq', { id });

test('controller API: auth, validation, operations recorded with their actor, routing published', async (t) => {
  const wh = await embeddedWarehouse(t);
  const control = new InProcessControlChannel();
  // An admin change already on the channel, with a generation from the future: the controller must go above it.
  const adminGen = Date.now() + 10_000_000;
  await control.publish({ model: 'fraud', generation: adminGen, fallback: null, versions: [{ name: 'v1', weight: 100, state: 'active' }, { name: 'v0', weight: 0, state: 'active' }], cause: { kind: 'admin', actor: 'ops', reason: '', id: 'a1', at: 1 } });
  const published: RoutingState[] = [];
  control.subscribe((s) => published.push(s));
  const c = await controller(t, { warehouse: wh, control });
  const api = (path: string, opts: Parameters<typeof call>[1] = {}) => call(`${c.url}${path}`, opts);

  assert.deepEqual((await api('/healthz')).json, { status: 'ok', leader: true, instance: 'api-test' });
  assert.equal((await api('/v1/rollouts')).status, 401);
  assert.equal((await api('/v1/rollouts', { headers: as('wrong-token-wrong-token-wrong') })).json.error.code, 'MLG_CTL_UNAUTHORIZED');
  assert.deepEqual((await api('/v1/rollouts', { headers: as(BOB) })).json, { rollouts: [] });
  const forbidden = await api('/v1/rollouts', { body: SPEC, headers: as(BOB) });
  assert.equal(forbidden.status, 403);

  const invalid = await api('/v1/rollouts', { body: { ...SPEC, steps: [10, 5, 100] }, headers: as(ALICE) });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.json.error.code, 'MLG_CTL_SPEC_INVALID');
  assert.match(invalid.json.error.message, /steps\.1: weights must be strictly increasing/);
  const missing = await api('/v1/rollouts', { body: { id: 'x', model: 'fraud', stable: 'v1' }, headers: as(ALICE) });
  assert.match(missing.json.error.message, /canary/);
  const badSql = await api('/v1/rollouts', { body: { ...SPEC, metrics: [{ kind: 'custom_sql', name: 'q', direction: 'higher_is_worse', sql: 'DELETE FROM x' }] }, headers: as(ALICE) });
  assert.equal(badSql.json.error.code, 'MLG_CTL_CUSTOM_SQL_INVALID');
  const badYaml = await api('/v1/rollouts', { body: 'id: [', headers: { ...as(ALICE), 'content-type': 'application/yaml' } });
  assert.equal(badYaml.status, 400);

  // Created from YAML and started by alice: weight 10, published above the admin's generation.
  const yaml = 'id: fraud-v2\nmodel: fraud\nstable: v1\ncanary: v2\nfallback: v1\nsteps: [10, 50, 100]\n';
  const created = await api('/v1/rollouts', { body: yaml, headers: { ...as(ALICE), 'content-type': 'application/yaml' } });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.rollout.phase, 'progressing');
  assert.equal(created.json.rollout.weight, 10);
  assert.equal(created.json.rollout.createdBy, 'alice');
  await waitUntil('the start published', () => published.length === 1);
  const start = published[0]!;
  assert.ok(start.generation > adminGen);
  assert.deepEqual(start.versions, [{ name: 'v1', weight: 90, state: 'active' }, { name: 'v2', weight: 10, state: 'active' }, { name: 'v0', weight: 0, state: 'active' }]);
  assert.equal(start.fallback, 'v1');
  assert.equal(start.rollout_id, 'fraud-v2');
  assert.equal(start.cause.actor, 'alice');

  assert.equal((await api('/v1/rollouts', { body: SPEC, headers: as(ALICE) })).status, 409, 'same id');
  const sameModel = await api('/v1/rollouts', { body: { ...SPEC, id: 'other' }, headers: as(ALICE) });
  assert.equal(sameModel.status, 409);
  assert.match(sameModel.json.error.message, /model fraud already has an active rollout \(fraud-v2\)/);
  assert.equal((await api('/v1/rollouts/fraud-v2/resume', { method: 'POST', headers: as(ALICE) })).json.error.code, 'MLG_CTL_BAD_TRANSITION');
  assert.equal((await api('/v1/rollouts/nope/pause', { method: 'POST', headers: as(ALICE) })).status, 404);
  assert.equal((await api('/v1/rollouts/fraud-v2/explode', { method: 'POST', headers: as(ALICE) })).status, 404);

  // Ticks with no traffic: waits, never a failure.
  await waitUntil('a wait decision', async () => (await rows(wh, 'fraud-v2')).some((r) => r.action === 'wait'), 15_000);
  const paused = await api('/v1/rollouts/fraud-v2/pause', { method: 'POST', body: { reason: 'holiday freeze' }, headers: as(ALICE) });
  assert.equal(paused.json.rollout.phase, 'paused');
  assert.equal((await api('/v1/rollouts/fraud-v2/resume', { method: 'POST', headers: as(ALICE) })).json.rollout.phase, 'progressing');
  const promoted = await api('/v1/rollouts/fraud-v2/promote', { method: 'POST', headers: as(ALICE) });
  assert.equal(promoted.json.rollout.weight, 50);
  const aborted = await api('/v1/rollouts/fraud-v2/abort', { method: 'POST', headers: as(ALICE) });
  assert.equal(aborted.json.rollout.phase, 'aborted');
  assert.equal(aborted.json.rollout.canaryState, 'tripped');
  await waitUntil('three routing states', () => published.length === 3);
  assert.deepEqual(published.map((s) => s.versions.find((v) => v.name === 'v2')), [
    { name: 'v2', weight: 10, state: 'active' }, { name: 'v2', weight: 50, state: 'active' }, { name: 'v2', weight: 0, state: 'tripped' },
  ]);
  assert.ok(published[1]!.generation > published[0]!.generation && published[2]!.generation > published[1]!.generation);

  const got = await api('/v1/rollouts/fraud-v2', { headers: as(BOB) });
  assert.equal(got.json.rollout.latestDecision.action, 'abort');
  assert.equal(got.json.rollout.latestDecision.actor, 'alice');
  assert.equal(got.json.rollout.etaSeconds, null);
  assert.equal((await api('/v1/rollouts/nope', { headers: as(BOB) })).json.error.code, 'MLG_CTL_NOT_FOUND');

  const stored = await rows(wh, 'fraud-v2');
  const manual = stored.filter((r) => r.action.startsWith('manual_'));
  assert.deepEqual(manual.map((r) => [r.action, r.actor]), [['manual_start', 'alice'], ['manual_pause', 'alice'], ['manual_resume', 'alice'], ['manual_promote', 'alice'], ['manual_abort', 'alice']]);
  assert.match(manual[1]!.reason, /paused by alice: holiday freeze/);
  assert.deepEqual(manual.map((r) => [r.weight_before, r.weight_after]), [[0, 10], [10, 10], [10, 10], [10, 50], [50, 0]]);
  assert.deepEqual(manual.map((r) => Number(r.generation) > 0), [true, false, false, true, true]);
  assert.deepEqual(stored.map((r) => Number(r.seq)), stored.map((_, i) => i + 1), 'one unbroken chain');
  for (const r of stored) {
    const evidence = JSON.parse(r.evidence);
    const expected = evidence.result.action;
    assert.equal(recompute(evidence).action, expected, `decision ${r.decision_id} (${r.action}) recomputes`);
  }

  const metrics = (await api('/metrics')).text;
  assert.match(metrics, /mlgate_controller_rollout_phase\{rollout="fraud-v2",model="fraud",phase="aborted"\} 1/);
  assert.match(metrics, /mlgate_controller_rollout_phase\{rollout="fraud-v2",model="fraud",phase="progressing"\} 0/);
  assert.match(metrics, /mlgate_controller_canary_weight\{rollout="fraud-v2",model="fraud"\} 0/);
  assert.match(metrics, /mlgate_controller_decisions_total\{rollout="fraud-v2",model="fraud",action="abort"\} 1/);
  assert.match(metrics, /mlgate_controller_decisions_total\{rollout="fraud-v2",model="fraud",action="rollback"\} 0/);
  assert.match(metrics, /mlgate_controller_step_seconds\{rollout="fraud-v2",model="fraud"\} \d/);
  assert.match(metrics, /mlgate_controller_is_leader 1/);
  assert.match(metrics, /mlgate_controller_analysis_threshold\{rollout="fraud-v2",model="fraud",metric="error_rate"\}/);
});

test('controller: a restarted controller resumes from the store; config rollouts start on their own', async (t) => {
  const wh = await embeddedWarehouse(t);
  const control = new InProcessControlChannel();
  const cfg = { rollouts: [{ id: 'cfg-1', model: 'm', stable: 'a', canary: 'b', steps: [20, 100] }] };
  const first = await controller(t, { warehouse: wh, control }, cfg);
  await waitUntil('started by the first tick', async () => (await first.rollouts.get('cfg-1')).phase === 'progressing', 10_000);
  await waitUntil('a few waits', async () => (await rows(wh, 'cfg-1')).length >= 3, 15_000);
  await first.close();
  const before = await rows(wh, 'cfg-1');
  assert.equal(before[0]!.action, 'manual_start');
  assert.equal(before[0]!.actor, 'controller');

  const second = await controller(t, { warehouse: wh, control }, { ...cfg, instanceId: 'api-test-2' });
  const view = await second.rollouts.get('cfg-1');
  assert.equal(view.weight, 20);
  assert.ok(view.seq >= before.length, 'resumed at the saved state, not restarted');
  await waitUntil('ticks continue', async () => (await rows(wh, 'cfg-1')).length > before.length + 1, 15_000);
  const after = await rows(wh, 'cfg-1');
  assert.equal(new Set(after.map((r) => r.decision_id)).size, after.length, 'no decision written twice');
  assert.equal(after.filter((r) => r.action === 'manual_start').length, 1);
});

test('controller: the rollout page is served on the API port (read-only, no token) and can be turned off', async (t) => {
  const wh = await embeddedWarehouse(t);
  const control = new InProcessControlChannel();
  const c = await controller(t, { warehouse: wh, control });
  assert.equal((await call(`${c.url}/v1/rollouts`, { body: SPEC, headers: as(ALICE) })).status, 201);
  const page = await fetch(`${c.url}/ui/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await page.text(), /<html/i);
  const listed = JSON.stringify(await (await fetch(`${c.url}/ui/api/rollouts`)).json());
  assert.match(listed, /fraud-v2/);
  assert.equal((await fetch(`${c.url}/ui/api/rollouts`, { method: 'POST' })).status, 404, 'the page is read-only');

  const off = await controller(t, { warehouse: wh, control: new InProcessControlChannel() }, { instanceId: 'api-test-off', ui: false });
  assert.equal((await fetch(`${off.url}/ui/`)).status, 404);
});
