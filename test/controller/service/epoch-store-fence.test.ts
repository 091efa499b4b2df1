/**
 * The rollout store fences leadership epochs (embedded engine): a controller deposed by a newer
 * leader, but not yet told so by its lease (it still believes it leads), cannot save a state or
 * record a decision for a rollout the newer leader has saved; and a stale save that slipped in
 * between the check and its insert never becomes the rollout, whatever its seq.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../services/core/log.ts';
import { createChainedWriter } from '../../../services/ledger/chained-writer.ts';
import { InProcessControlChannel } from '../../../services/routing/channel.ts';
import { RoutingFollower } from '../../../services/routing/follower.ts';
import { parseRolloutSpec } from '../../../services/controller/rollout/spec.ts';
import type { MetricsProvider } from '../../../services/controller/analysis/input.ts';
import { ControllerMetrics } from '../../../services/controller/service/prometheus.ts';
import { RolloutManager } from '../../../services/controller/service/rollout-manager.ts';
import { ClickHouseRolloutStore } from '../../../services/controller/service/rollout-store.ts';
import type { Warehouse } from '../../../services/warehouse/warehouse.ts';
import { count, embeddedWarehouse } from '../../warehouse/support.ts';

const spec = parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', steps: [10, 100], warmup: { seconds: 0 } });

function manager(wh: Warehouse, control: InProcessControlChannel, name: string, epoch: number): RolloutManager {
  const actor = `controller-${name}`;
  return new RolloutManager({
    store: new ClickHouseRolloutStore(wh), routing: new RoutingFollower(control, silentLogger(), () => epoch, name),
    metrics: new ControllerMetrics(new Registry(), Date.now), now: Date.now, actor, logger: silentLogger(), waitEveryS: 0, collection: {},
    // The lease gap: both believe they lead; only the epochs differ.
    isLeader: () => true, epoch: () => epoch,
    decisions: createChainedWriter(wh, { table: 'canary_decisions', chainId: actor, logger: silentLogger() }),
    provider: { collect: async () => { throw new Error('not used'); } } as unknown as MetricsProvider,
  });
}

test('epoch fence: a deposed leader cannot save or decide once a newer leader saved the rollout', async (t) => {
  const wh = await embeddedWarehouse(t);
  const control = new InProcessControlChannel();
  const store = new ClickHouseRolloutStore(wh);
  const a = manager(wh, control, 'a', 1);
  await a.activate();
  await a.create(spec, 'alice', 'api');
  assert.equal((await store.load('r1'))!.summary.epoch, 1);

  // b takes over (epoch 2) and pauses the rollout.
  const b = manager(wh, control, 'b', 2);
  await b.activate();
  const paused = await b.operate('r1', 'pause', 'bob');
  assert.equal(paused.phase, 'paused');

  // a, still holding its old view, tries to abort: refused by the store, nothing recorded.
  await assert.rejects(a.operate('r1', 'abort', 'alice'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MLG_CTL_NOT_LEADER');
    assert.match(err.message, /newer leader \(epoch 2\).*epoch 1/);
    return true;
  });
  const latest = (await store.load('r1'))!;
  assert.equal(latest.state.phase, 'paused');
  assert.equal(latest.summary.epoch, 2);
  assert.equal(await count(wh, `SELECT count() FROM {db}.canary_decisions WHERE chain_id = 'controller-a'`), 1, 'only a\'s start decision');
  assert.equal(await count(wh, `SELECT count() FROM {db}.canary_decisions WHERE chain_id = 'controller-b'`), 1, 'b\'s pause');
  const ev = await wh.query<{ e: string }>(`SELECT toString(JSONExtractUInt(evidence, 'epoch')) AS e FROM {db}.canary_decisions WHERE chain_id = 'controller-b'`);
  assert.equal(ev[0]!.e, '2', 'the decision carries its leader\'s epoch');
});

test('epoch fence: a stale save that slipped past the check never becomes the rollout, however high its seq', async (t) => {
  const wh = await embeddedWarehouse(t);
  const control = new InProcessControlChannel();
  const store = new ClickHouseRolloutStore(wh);
  const b = manager(wh, control, 'b', 2);
  await b.activate();
  await b.create(spec, 'bob', 'api');
  const current = (await store.load('r1'))!;
  // What a deposed leader's save looks like if it raced the check: epoch 1, a far higher seq.
  const stale = { ...current, state: { ...current.state, seq: current.state.seq + 1000, phase: 'aborted' as const }, summary: { ...current.summary, epoch: 1 } };
  await wh.insert('controller_rollouts', [{
    rollout_id: 'r1', model: 'm', phase: 'aborted', seq: stale.state.seq, saved_at: Date.now() + 1000, instance: 'a',
    state: JSON.stringify(stale.state), outbox: '', summary: JSON.stringify(stale.summary),
  }]);
  const loaded = (await store.load('r1'))!;
  assert.equal(loaded.summary.epoch, 2);
  assert.equal(loaded.state.phase, current.state.phase);
  assert.equal((await store.loadAll()).find((r) => r.state.spec.id === 'r1')!.state.phase, current.state.phase);
  // And a save below epoch 2 is refused outright.
  await assert.rejects(store.save(stale, 'a'), /newer leader \(epoch 2\)/);
});
