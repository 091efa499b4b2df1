/**
 * One vocabulary of decision actions: a rollout taken through start, pause, resume, promote,
 * complete (into the bake) and finish by the API; the controller API, the rollout page's
 * decisions, the live view's history and the audit (rolloutHistory, what `mlgate audit rollout`
 * and GET /v1/rollouts/:id/decisions print) name each decision the same, while the stored rows
 * keep their old names and the chain still verifies. The stored names work as filter aliases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { InProcessControlChannel } from '../../../services/routing/channel.ts';
import { ControllerSection } from '../../../services/controller/service/config.ts';
import { startController } from '../../../services/controller/service/controller.ts';
import { readDecisions } from '../../../services/controller/web/traffic.ts';
import { describeRollout } from '../../../services/controller/web/describe.ts';
import { rolloutHistory } from '../../../services/audit/ledger-queries.ts';
import { verifyChains } from '../../../services/audit/verify.ts';
import { ACTION_SQL, actionOfRow, parseDecisionAction } from '../../../services/ledger/decision-actions.ts';
import { ViewLoop } from '../../../demo/view-loop.ts';
import { Writable } from 'node:stream';
import { call } from '../../gateway/helpers.ts';
import { waitUntil } from '../../support/infra.ts';
import { embeddedWarehouse } from '../../warehouse/support.ts';

const OPERATOR = 'alice-operator-token-0123456789';
const SPEC = { id: 'names-v2', model: 'names', stable: 'v1', canary: 'v2', fallback: 'v1', steps: [10, 50, 100], bake: { seconds: 7200 } };

test('stored names map to the core\'s at read time; old names are input aliases', () => {
  const row = (action: string, weight_before: number, weight_after: number) => actionOfRow({ action, weight_before, weight_after });
  assert.equal(row('manual_start', 0, 10), 'start');
  assert.equal(row('promote', 10, 50), 'promote');
  assert.equal(row('manual_promote', 10, 50), 'promote');
  assert.equal(row('promote', 50, 100), 'complete');
  assert.equal(row('manual_promote', 100, 100), 'finish');
  assert.equal(row('manual_pause', 10, 10), 'pause');
  assert.equal(row('manual_abort', 50, 0), 'abort');
  assert.equal(row('rollback', 10, 0), 'rollback');
  assert.equal(parseDecisionAction('manual_start'), 'start');
  assert.equal(parseDecisionAction('complete'), 'complete');
  assert.equal(parseDecisionAction('continue'), undefined);
});

test('the dashboards\' SQL mapping (ACTION_SQL) is actionOfRow for every stored name', async (t) => {
  const wh = await embeddedWarehouse(t);
  const names = ['wait', 'promote', 'rollback', 'pause', 'manual_start', 'manual_pause', 'manual_resume', 'manual_promote', 'manual_abort', 'continue'];
  const weights: Array<[number, number]> = [[0, 10], [10, 50], [50, 100], [100, 100], [10, 0]];
  const rows = names.flatMap((action) => weights.map(([weight_before, weight_after]) => ({ action, weight_before, weight_after })));
  const values = rows.map((r) => `('${r.action}', ${r.weight_before}, ${r.weight_after})`).join(', ');
  const got = await wh.query<{ a: string }>(`SELECT ${ACTION_SQL} AS a FROM (SELECT tupleElement(x, 1) AS action, tupleElement(x, 2) AS weight_before, tupleElement(x, 3) AS weight_after
    FROM (SELECT arrayJoin([${values}]) AS x)) ORDER BY rowNumberInAllBlocks()`);
  assert.deepEqual(got.map((r) => r.a), rows.map(actionOfRow));
});

test('the API, the page, the live view and the audit name every decision the same; the chain verifies', async (t) => {
  const wh = await embeddedWarehouse(t);
  const config = ControllerSection.parse({
    instanceId: 'names-test', port: 0, loopMs: 50, tickOverride: { intervalS: 3600, lagS: 0 }, tokens: [{ name: 'alice', token: OPERATOR }],
  });
  const c = await startController({ config, registry: new Registry(), warehouse: wh, control: new InProcessControlChannel() });
  t.after(() => c.close());
  await waitUntil('leadership', () => c.isLeader(), 10_000);
  const headers = { authorization: `Bearer ${OPERATOR}` };

  // Every non-wait decision as the API reports it, in order (ticks are an hour apart: besides
  // these, only the first tick's wait).
  const api: string[] = [];
  const created = await call(`${c.url}/v1/rollouts`, { body: SPEC, headers });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  api.push(created.json.rollout.latestDecision.action);
  for (const op of ['pause', 'resume', 'promote', 'promote', 'promote']) {
    const r = await call(`${c.url}/v1/rollouts/${SPEC.id}/${op}`, { body: {}, headers });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    api.push(r.json.rollout.latestDecision.action);
  }
  assert.deepEqual(api, ['start', 'pause', 'resume', 'promote', 'complete', 'finish']);

  await waitUntil('every decision recorded', async () => (await readDecisions(wh, { rollout: SPEC.id, waits: 'false', limit: 1000 })).rows.length >= api.length, 10_000);
  const stored = await wh.query<{ action: string }>("SELECT action FROM {db}.canary_decisions WHERE rollout_id = {id:String} AND action != 'wait' ORDER BY seq", { id: SPEC.id });
  assert.deepEqual(stored.map((r) => r.action), ['manual_start', 'manual_pause', 'manual_resume', 'manual_promote', 'manual_promote', 'manual_promote'], 'rows keep the stored names');

  const page = [...(await readDecisions(wh, { rollout: SPEC.id, waits: 'false', limit: 1000 })).rows].reverse();
  assert.deepEqual(page.map((r) => r.action), api, 'the rollout page');
  const audit = (await rolloutHistory(wh, SPEC.id, { limit: 100 })).rows.filter((r) => r.action !== 'wait');
  assert.deepEqual(audit.map((r) => r.action), api, 'the audit');
  assert.deepEqual(audit.map((r) => r.stored_action), stored.map((r) => r.action), 'the audit keeps the stored value beside it');
  assert.deepEqual((await rolloutHistory(wh, SPEC.id, { limit: 100 }, parseDecisionAction('manual_start'))).rows.map((r) => r.action), ['start'], 'old names filter as aliases');
  assert.deepEqual((await rolloutHistory(wh, SPEC.id, { limit: 100 }, 'complete')).rows.map((r) => r.action), ['complete']);

  // The live view's history, from the recorded decisions: all of them, from the start.
  let text = '';
  const out = new Writable({ write(chunk: Buffer, _enc, cb) { text += chunk.toString(); cb(); } });
  const loop = new ViewLoop({
    out, tty: true, rollouts: c.rollouts, load: () => ({ sent: 0, byStatus: {}, byVersion: {}, skipped: 0, withPii: 0, inFlight: 0 }), rps: 0, t0: Date.now(),
    recorded: async (id) => [...(await readDecisions(wh, { rollout: id, waits: 'false', limit: 1000 })).rows].reverse(),
  });
  await loop.frame();
  await loop.stop();
  assert.ok(text.includes(`decisions: ${api.map((a, i) => `${a}@${[10, 10, 10, 50, 100, 100][i]}%`).join(' → ')}`), `the live view: ${text}`);
  assert.match(text, /PROMOTED.*step 3\/3 \(100%\)\s+weight 100%/);

  // The final state: step and weight agree.
  const view = await c.rollouts.get(SPEC.id);
  assert.equal(describeRollout(view).step, '3/3 (100%)');
  assert.equal(view.weight, 100);

  const report = await verifyChains(wh, { tables: ['canary_decisions'] });
  assert.equal(report.ok, true, JSON.stringify(report.firstBreak));
});
