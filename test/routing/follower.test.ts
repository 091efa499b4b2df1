/**
 * The routing-state rules a writer and a gateway share (routing/state.ts, routing/follower.ts):
 * the state a config declares, whether a state fits the versions a gateway serves, and the
 * follower's generations (above every state seen, never twice), its re-delivery skip and its
 * epoch stamp. The controller's use of them: test/controller/service/routing.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessControlChannel } from '../../services/routing/channel.ts';
import { RoutingFollower } from '../../services/routing/follower.ts';
import { declaredState, parseRoutingState, stateMismatch, type RoutingState } from '../../services/routing/state.ts';
import { silentLogger } from '../../services/core/log.ts';

const state = (generation: number, weights: Record<string, number>): RoutingState => ({
  model: 'm', generation, fallback: null,
  versions: Object.entries(weights).map(([name, weight]) => ({ name, weight, state: 'active' as const })),
  cause: { kind: 'admin', actor: 'ops', reason: '', id: '', at: 1 },
});

test('declaredState: every version active with its weight (0 when absent), generation 0 and cause config unless given', () => {
  const s = parseRoutingState(declaredState('m', ['v1', 'v2', 'v3'], { v1: 70, v2: 30 }, 'v1', { at: 5 }));
  assert.deepEqual(s.versions, [{ name: 'v1', weight: 70, state: 'active' }, { name: 'v2', weight: 30, state: 'active' }, { name: 'v3', weight: 0, state: 'active' }]);
  assert.equal(s.generation, 0);
  assert.equal(s.fallback, 'v1');
  assert.deepEqual(s.cause, { kind: 'config', actor: 'config', reason: 'gateway config', id: '', at: 5 });
  assert.equal(declaredState('m', ['v1'], { v1: 100 }, null, { actor: 'ops' }, 42).generation, 42);
});

test('stateMismatch: a state fits when the gateway serves its model and every version it names', () => {
  assert.equal(stateMismatch(state(1, { v1: 100 }), ['v1', 'v2']), undefined);
  assert.equal(stateMismatch(state(1, { v1: 50, v9: 50 }), ['v1', 'v2']), 'version v9 is not configured for model m');
  assert.equal(stateMismatch(state(1, { v1: 100 }), undefined), 'model m is not configured on this gateway');
});

test('RoutingFollower: generations above every state seen and never twice; a known generation is not published again; the epoch is stamped', async () => {
  const control = new InProcessControlChannel();
  await control.publish(state(5_000_000_000_000, { v1: 100 }));
  let epoch: number | undefined = 3;
  const f = new RoutingFollower(control, silentLogger(), () => epoch, 'c1');
  await f.sync();
  assert.equal(f.current('m')!.generation, 5_000_000_000_000);
  const g1 = f.nextGeneration('m', 1000);
  assert.equal(g1, 5_000_000_000_001, 'above the latest state seen (a future admin generation)');
  assert.equal(f.nextGeneration('m', 1000), g1 + 1, 'never the same generation twice');
  assert.equal(f.nextGeneration('other', 42), 42, 'no state seen: the clock');

  const next = state(g1 + 1, { v1: 90, v2: 10 });
  assert.equal(await f.publish(next), true);
  const [latest] = await control.readToEnd();
  assert.equal(latest!.epoch, 3, 'stamped with the epoch in force');
  assert.equal(f.current('m')!.generation, g1 + 1);
  assert.equal(await f.publish(state(g1, { v1: 100 })), false, 'a lower generation is skipped');
  assert.equal(await f.publish(next), false, 'the same generation is skipped (re-delivered outbox)');
  epoch = undefined;
  assert.equal(await f.publish(state(g1 + 2, { v1: 100 })), true);
  assert.equal((await control.readToEnd())[0]!.epoch, undefined, 'no epoch: none stamped');
  f.close();
});
