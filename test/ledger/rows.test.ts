// Writers for canary_decisions and admin_changes on the embedded engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { DECISION_ACTION, createWarehouseRecorder, recordCanaryDecisions, type CanaryDecisionRow } from '../../services/ledger/rows.ts';

const decision = (over: Partial<CanaryDecisionRow> = {}): CanaryDecisionRow => ({
  decision_id: randomUUID(), ts: Date.now(), rollout_id: 'r1', model: 'm', stable_version: 'v1', canary_version: 'v2',
  step: 2, weight_before: 10, weight_after: 25, action: 'wait', reason: 'canary within bounds',
  evidence: { errors: { canary: 0, stable: 3 } }, actor: 'controller', ...over,
});

test('decisions and admin changes are stored with their JSON and empty hash columns', async (t) => {
  const wh = await embeddedWarehouse(t);
  const rec = createWarehouseRecorder(wh);
  const d = decision();
  await rec.recordCanaryDecision(d);
  await rec.recordAdminChange({ change_id: 'c1', ts: Date.now(), actor: 'admin:alice', action: 'set_weights', target: 'model:m',
    before: { weights: { v1: 100 } }, after: '{"weights":{"v1":90,"v2":10}}', generation: 7 });
  const [row] = await wh.query<Record<string, unknown>>('SELECT * FROM {db}.canary_decisions WHERE decision_id = {id:String}', { id: d.decision_id });
  assert.ok(row);
  assert.equal(row.action, 'wait');
  assert.deepEqual(JSON.parse(String(row.evidence)), d.evidence);
  assert.equal(row.prev_hash, '');
  const [ch] = await wh.query<Record<string, unknown>>('SELECT before, after, generation FROM {db}.admin_changes');
  assert.deepEqual(JSON.parse(String(ch!.before)), { weights: { v1: 100 } });
  assert.equal(Number(ch!.generation), 7);
});

test('a retried write of the same decisions is stored once', async (t) => {
  const wh = await embeddedWarehouse(t);
  const rows = [decision(), decision({ action: 'rollback', weight_after: 0 })];
  await recordCanaryDecisions(wh, rows);
  await recordCanaryDecisions(wh, rows);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.canary_decisions'), 2);
});

test('an invalid row is refused before it reaches ClickHouse, naming the field', async (t) => {
  const wh = await embeddedWarehouse(t);
  await assert.rejects(recordCanaryDecisions(wh, [decision({ action: 'explode' })]),
    (e: Error & { code?: string }) => e.code === 'MLG_CORE_BAD_ARGUMENT' && /row 0: action/.test(e.message));
  await assert.rejects(recordCanaryDecisions(wh, [decision({ weight_after: 150 })]), /weight_after/);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.canary_decisions'), 0);
});

test('decision actions are those controller/service/decision-rows.ts writes; continue (never written) is refused', () => {
  for (const a of ['wait', 'promote', 'rollback', 'pause', 'manual_start', 'manual_promote', 'manual_abort']) assert.ok(DECISION_ACTION.test(a), a);
  assert.ok(!DECISION_ACTION.test('continue'));
});
