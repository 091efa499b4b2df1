// Leadership epoch fencing on the real broker: two controllers' electors and routing followers,
// one gateway following the control topic. The first leader is deposed (it leaves, the standby
// takes over with a higher epoch and announces it), then the deposed one publishes a state with
// a far higher generation: the gateway and every other reader refuse it, and the new leader's
// next state is applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needKafka, uniqueName, waitUntil, withTopics } from '../support/infra.ts';
import { model, startTestGateway } from '../gateway/helpers.ts';
import { KafkaControlChannel } from '../../services/routing/kafka-channel.ts';
import { KafkaLeaderElector } from '../../services/controller/service/leader.ts';
import { RoutingFollower } from '../../services/routing/follower.ts';
import type { RoutingState } from '../../services/routing/state.ts';
import { silentLogger } from '../../services/core/log.ts';

function state(canary: number, generation: number, actor: string): RoutingState {
  return {
    model: 'm', generation, fallback: 'v1',
    versions: [{ name: 'v1', weight: 100 - canary, state: 'active' }, { name: 'v2', weight: canary, state: 'active' }],
    cause: { kind: 'controller', actor, reason: 'test', id: `${actor}-${generation}`, at: Date.now() },
  };
}

test('a deposed controller cannot route traffic: its states carry a lower epoch and every reader refuses them', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const { control: topic } = await withTopics(t, brokers, { control: { compacted: true } });
  const leaderTopic = uniqueName('t_leader').replace(/_/g, '.');
  const groupId = uniqueName('g-leader');
  const channel = (id: string) => {
    const c = new KafkaControlChannel({ brokers, clientId: `test-${id}`, topic, logger: silentLogger() });
    t.after(() => c.close());
    return c;
  };
  const elector = (id: string) => {
    const e = new KafkaLeaderElector({ brokers, clientId: `test-${id}`, instanceId: id, topic: leaderTopic, groupId, sessionTimeoutMs: 6000 });
    t.after(() => e.close());
    return e;
  };
  const gwChannel = channel('gw');
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: 'http://127.0.0.1:9', v2: 'http://127.0.0.1:9' }, { fallback: 'v1', weights: { v1: 100, v2: 0 } }) } }, { control: gwChannel });

  const a = elector('a');
  await a.start();
  await waitUntil('a leads', () => a.isLeader(), 30_000);
  const epochA = a.epoch();
  assert.ok(epochA !== undefined && epochA >= 1);
  const routingA = new RoutingFollower(channel('a'), silentLogger(), () => a.epoch(), 'a');
  await routingA.sync();
  assert.equal(await routingA.publish(state(10, Date.now(), 'controller-a')), true);
  await waitUntil('the gateway routes by a', () => gw.routing.get('m')?.versions.find((v) => v.name === 'v2')?.weight === 10, 30_000);
  assert.equal(gw.routing.get('m')?.epoch, epochA);

  const b = elector('b');
  await b.start();
  await a.close(); // a leaves the group: b takes over
  await waitUntil('b leads', () => b.isLeader(), 60_000);
  assert.equal(a.isLeader(), false);
  const epochB = b.epoch()!;
  assert.ok(epochB > epochA!, `the new leader's epoch ${epochB} is above the deposed one's ${epochA}`);
  const routingB = new RoutingFollower(channel('b'), silentLogger(), () => b.epoch(), 'b');
  await routingB.sync(); // announces epoch b before acting

  // The deposed controller writes after losing the lease, with a generation far above anything.
  assert.equal(a.epoch(), epochA, 'the deposed instance still stamps its old epoch');
  assert.equal(await routingA.publish(state(90, Date.now() + 1e9, 'controller-a')), true, 'Kafka takes the write');
  // The new leader's next state.
  assert.equal(await routingB.publish(state(20, Date.now(), 'controller-b')), true);
  await waitUntil('the gateway routes by b', () => gw.routing.get('m')?.versions.find((v) => v.name === 'v2')?.weight === 20, 30_000);
  assert.equal(gw.routing.get('m')?.epoch, epochB);
  assert.ok(gwChannel.fenced >= 1, 'the gateway refused the deposed controller\'s state');

  // A reader that starts now (a restarted gateway) also ends at b's state, not the stale one.
  const fresh = channel('fresh');
  const latest = await fresh.readToEnd();
  assert.deepEqual(latest.map((s) => [s.model, s.epoch, s.versions.find((v) => v.name === 'v2')?.weight]), [['m', epochB, 20]]);
  assert.equal(fresh.fenced, 1);
});
