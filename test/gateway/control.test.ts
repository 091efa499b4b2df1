/**
 * The routing-state contract (services/control): validation, applyIfNewer, nextGeneration, the
 * in-process control channel and the in-memory admin change recorder. Pure, no servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyIfNewer, nextGeneration, parseRoutingState, weightsOf, type RoutingState } from '../../services/routing/state.ts';
import { InProcessControlChannel } from '../../services/routing/channel.ts';
import { MemoryAdminChangeRecorder } from '../../services/ledger/admin-changes.ts';
import { MlgateError } from '../../services/core/errors.ts';

const state = (generation: number, over: Partial<RoutingState> = {}): RoutingState => ({
  model: 'm', generation, fallback: 'v1',
  versions: [{ name: 'v1', weight: 90, state: 'active' }, { name: 'v2', weight: 10, state: 'active' }],
  cause: { kind: 'controller', actor: 'ctl', reason: 'step', id: 'd-1', at: 1 }, ...over,
});

test('routing state: valid states parse; invalid ones name the field', () => {
  assert.deepEqual(weightsOf(parseRoutingState(state(3))), { v1: 90, v2: 10 });
  assert.equal(parseRoutingState({ ...state(3), rollout_id: 'r-1' }).rollout_id, 'r-1');
  const cases: Array<[unknown, RegExp]> = [
    [{ ...state(1), versions: [{ name: 'v1', weight: 90, state: 'active' }] }, /versions: weights must sum to 100, got 90/],
    [{ ...state(1), fallback: 'v9' }, /fallback: fallback v9 is not one of the versions/],
    [{ ...state(1), generation: -1 }, /generation/],
    [{ ...state(1), versions: [{ name: 'v1', weight: 50, state: 'active' }, { name: 'v1', weight: 50, state: 'active' }] }, /versions\.1\.name: version v1 appears twice/],
    [{ ...state(1), versions: [{ name: 'v1', weight: 100, state: 'broken' }] }, /versions\.0\.state/],
    [{ ...state(1), extra: true }, /extra/],
    [{ ...state(1), cause: { kind: 'robot', actor: 'x', reason: '', id: '', at: 1 } }, /cause\.kind/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => parseRoutingState(value), (err: unknown) => {
      assert.ok(err instanceof MlgateError);
      assert.equal(err.code, 'MLG_CONTROL_STATE_INVALID');
      assert.match(err.message, re);
      return true;
    });
  }
});

test('routing state: applyIfNewer applies only a strictly higher generation of the same model', () => {
  assert.equal(applyIfNewer(undefined, state(0)).applied, true);
  assert.equal(applyIfNewer(state(5), state(6)).applied, true);
  const same = applyIfNewer(state(5), state(5));
  assert.equal(same.applied, false);
  assert.equal(same.state!.generation, 5);
  const older = applyIfNewer(state(5), state(4));
  assert.equal(older.applied, false);
  if (!older.applied) assert.match(older.reason, /generation 4 is not higher than current 5/);
  assert.equal(applyIfNewer(state(5), state(9, { model: 'other' })).applied, false);
});

test('routing state: nextGeneration rises past both the current generation and the clock', () => {
  assert.equal(nextGeneration(undefined, 1000), 1000);
  assert.equal(nextGeneration(state(5), 1000), 1000);
  assert.equal(nextGeneration(state(5000), 1000), 5001);
});

test('control channel: delivers to subscribers asynchronously, keeps the latest per model, validates', async () => {
  const ch = new InProcessControlChannel();
  const got: number[] = [];
  const off = ch.subscribe((s) => got.push(s.generation));
  ch.subscribe(() => { throw new Error('a broken handler does not stop delivery'); });
  const p = ch.publish(state(1));
  assert.deepEqual(got, [], 'delivery is asynchronous: never inside publish()');
  await p;
  await ch.publish(state(2));
  await ch.publish(state(7, { model: 'n' }));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(got, [1, 2, 7]);
  const latest = await ch.readToEnd();
  assert.deepEqual(latest.map((s) => [s.model, s.generation]).sort(), [['m', 2], ['n', 7]]);
  off();
  await ch.publish(state(3));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(got, [1, 2, 7]);
  await assert.rejects(ch.publish({ ...state(4), fallback: 'zz' }), /MLG_CONTROL_STATE_INVALID|fallback/);
  await ch.close();
  await assert.rejects(ch.publish(state(9)), /closed/);
});

test('admin recorder: keeps JSON copies, bounded', async () => {
  const rec = new MemoryAdminChangeRecorder(2);
  const before = state(1);
  for (let i = 0; i < 3; i++) await rec.record({ id: `c${i}`, actor: 'alice', action: 'set_weights', target: 'm', before, after: before, at: i, reason: '' });
  assert.deepEqual(rec.changes.map((c) => c.id), ['c1', 'c2']);
  before.generation = 99;
  assert.equal((rec.changes[0]!.before as RoutingState).generation, 1, 'a copy, not a live reference');
  assert.throws(() => new MemoryAdminChangeRecorder(0), /limit/);
});
