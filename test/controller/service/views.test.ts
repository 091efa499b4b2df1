/**
 * The API's view of a rollout: when the controller next evaluates it (its next tick), and the
 * step's deadline, apart from the decision estimate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manual } from '../../../services/controller/rollout/machine.ts';
import { parseRolloutSpec } from '../../../services/controller/rollout/spec.ts';
import { createRollout } from '../../../services/controller/rollout/state.ts';
import type { StoredRollout } from '../../../services/controller/service/decision-rows.ts';
import { viewOf } from '../../../services/controller/service/views.ts';

const spec = parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', tick: { intervalS: 30, lagS: 0 }, bake: { seconds: 0 }, steps: [{ weight: 10, maxDurationS: 1800 }, 100] });
const stored = (state: StoredRollout['state']): StoredRollout => ({ state, outbox: null, summary: { createdAt: 0, createdBy: 'alice', source: 'api', lastDecision: null, lastRecordedAt: null } });

test('next tick: the last tick plus tick.intervalS (now when due, unknown off the leader, none once ended); the step deadline apart', () => {
  const started = manual(createRollout(spec), 'start', 1_000, 'alice').state;
  const v = viewOf(stored(started), 20_000, 10_000);
  assert.equal(v.nextTickAt, 40_000, 'last tick at 10 s + 30 s');
  assert.equal(v.stepDeadlineAt, 1_000 + 1_800_000, 'the step started at 1 s times out after maxDurationS');
  assert.equal(viewOf(stored(started), 20_000, 0).nextTickAt, 20_000, 'no tick yet: one is due now');
  assert.equal(viewOf(stored(started), 20_000).nextTickAt, null, 'a standby does not know the leader\'s ticks');
  assert.equal(viewOf(stored(createRollout(spec)), 20_000, 0).nextTickAt, 20_000, 'pending: ticks at once');
  const promoted = manual(started, 'promote', 50_000, 'alice').state;
  assert.equal(promoted.phase, 'promoted');
  const end = viewOf(stored(promoted), 60_000, 50_000);
  assert.deepEqual([end.nextTickAt, end.stepDeadlineAt], [null, null]);
});
