/**
 * Leadership with real Kafka (consumer group on a one-partition topic) and the embedded engine:
 *
 * 1. two controllers in this process on one warehouse and one control channel: only the leader
 *    publishes and writes decisions while a standby answers reads from the store and refuses
 *    changes (503); the leader stops, the standby takes over and finishes the same rollout (its
 *    decisions continue the rollout's sequence with no gap, repeat or broken statistics chain, and
 *    its routing states keep rising generations);
 * 2. a leader elector in a child process is SIGKILLed (it cannot leave the group): the standby
 *    controller here becomes leader once the session times out, and acts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { InProcessControlChannel } from '../../services/routing/channel.ts';
import type { RoutingState } from '../../services/routing/state.ts';
import { ControllerSection } from '../../services/controller/service/config.ts';
import { KafkaLeaderElector } from '../../services/controller/service/leader.ts';
import type { Evidence } from '../../services/controller/rollout/decision.ts';
import { chainBreaks } from '../../services/controller/rollout/recompute.ts';
import { startController, type RunningController } from '../../services/controller/service/controller.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { call } from '../gateway/helpers.ts';
import { needKafka, uniqueName, waitUntil, withTopics } from '../support/infra.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';
import { Teardown, writeTraffic } from './service/support.ts';

const TOKEN = 'leader-test-operator-token-0123';
const spec = (id: string, model: string) => ({
  id, model, stable: 'v1', canary: 'v2', steps: [20, 50, 100],
  stepDefaults: { minDurationS: 3, minSamples: 50, maxDurationS: 120 }, tick: { intervalS: 1, lagS: 1 },
  // A fast rollout for a failover test: no warm-up, and the last step rules out 3x errors, not 1.25x.
  warmup: { seconds: 0 },
  // No bake after 100%: the test waits for 'promoted'.
  bake: { seconds: 0 },
  metrics: [{ kind: 'error_rate', detect: 3, ruleOut: 3 }, { kind: 'latency', detect: 3 }],
});

async function controllerOn(down: Teardown, o: { wh: Warehouse; control: InProcessControlChannel; brokers: string[]; topic: string; group: string; instance: string; rollouts: unknown[] }): Promise<{ c: RunningController; elector: KafkaLeaderElector }> {
  const elector = new KafkaLeaderElector({ brokers: o.brokers, clientId: 'mlgate-test-leader', instanceId: o.instance, topic: o.topic, groupId: o.group });
  const c = await startController({
    config: ControllerSection.parse({ instanceId: o.instance, port: 0, loopMs: 100, rollouts: o.rollouts, tokens: [{ name: 'ops', token: TOKEN }] }),
    warehouse: o.wh, control: o.control, registry: new Registry(), leader: elector,
  });
  down.add(() => c.close());
  return { c, elector };
}

interface Row { chain_id: string; action: string; evidence: string }

test('two controllers: one acts; when it stops, the standby takes over and finishes the rollout', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const down = new Teardown();
  t.after(() => down.run());
  const wh = await embeddedWarehouse(t);
  const { leader: topic } = await withTopics(t, brokers, { leader: {} });
  const group = uniqueName('g-ctl');
  const control = new InProcessControlChannel();
  const published: RoutingState[] = [];
  control.subscribe((s) => published.push(s));
  const rollouts = [spec('m-v2', 'm')];

  const a = await controllerOn(down, { wh, control, brokers, topic, group, instance: 'a', rollouts });
  await waitUntil('a leading', () => a.c.isLeader(), 30_000);
  const b = await controllerOn(down, { wh, control, brokers, topic, group, instance: 'b', rollouts });
  await waitUntil('b in the group', () => b.elector.status().joined, 30_000);
  assert.equal(b.c.isLeader(), false, 'a standby joining does not take the lead');
  assert.equal(a.c.isLeader(), true);

  const traffic = writeTraffic(wh, control, { model: 'm', stable: 'v1', rps: 300, errorRate: 0.02 });
  down.add(() => traffic.stop());
  await waitUntil('the first promotion, by a', async () => (await a.c.rollouts.get('m-v2')).weight >= 50, 60_000, 200).catch(async (err: Error) => {
    const v = await a.c.rollouts.get('m-v2');
    throw new Error(`${err.message}; rollout at ${v.weight}% ${v.phase}: ${JSON.stringify(v.latestDecision)}`);
  });

  // The standby reads from the store and refuses changes.
  const viaB = await call(`${b.c.url}/v1/rollouts/m-v2`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(viaB.status, 200);
  assert.equal(viaB.json.rollout.id, 'm-v2');
  const refused = await call(`${b.c.url}/v1/rollouts/m-v2/pause`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(refused.status, 503);
  assert.equal(refused.json.error.code, 'MLG_CTL_NOT_LEADER');
  assert.deepEqual((await call(`${b.c.url}/healthz`)).json, { status: 'ok', leader: false, instance: 'b' });
  assert.match((await call(`${b.c.url}/metrics`)).text, /mlgate_controller_is_leader 0/);
  const byA = published.length;
  assert.ok(byA >= 2);
  assert.deepEqual([...new Set(published.map((s) => s.cause.actor))], ['controller-a'], 'only the leader publishes');

  await a.c.close();
  await waitUntil('b taking over', () => b.c.isLeader(), 30_000);
  const done = await waitUntil('the rollout to end, under b', async () => {
    const v = await b.c.rollouts.get('m-v2');
    return v.finishedAt !== null ? v : undefined;
  }, 90_000, 200);
  assert.equal(done.phase, 'promoted', done.latestDecision?.reason);
  // The state is saved before the outbox delivers: wait for the final routing state and decision.
  await waitUntil('the final routing state published', () => published.at(-1)?.versions.find((v) => v.name === 'v2')?.weight === 100, 15_000);
  await waitUntil('the final decision recorded', async () => {
    const last = await wh.query<{ decision_id: string }>("SELECT decision_id FROM {db}.canary_decisions WHERE rollout_id = 'm-v2' ORDER BY ts DESC, seq DESC LIMIT 1");
    return last[0]?.decision_id === done.latestDecision?.decisionId;
  }, 15_000, 200);
  const after = published.slice(byA);
  assert.ok(after.length >= 1);
  assert.deepEqual([...new Set(after.map((s) => s.cause.actor))], ['controller-b']);
  assert.equal(after.at(-1)!.versions.find((v) => v.name === 'v2')!.weight, 100);
  for (let i = 1; i < published.length; i++) assert.ok(published[i]!.generation > published[i - 1]!.generation, 'generations rise across the handover');

  // One sequence of decisions across both chains: no gap, no repeat, statistics chained.
  const rows = await wh.query<Row>("SELECT chain_id, action, evidence FROM {db}.canary_decisions WHERE rollout_id = 'm-v2' ORDER BY ts, seq");
  const seqs = rows.map((r) => (JSON.parse(r.evidence) as { result: { seq: number } }).result.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  assert.deepEqual([...new Set(rows.map((r) => r.chain_id))], ['controller-a', 'controller-b']);
  for (let i = 1; i < rows.length; i++) {
    assert.deepEqual(chainBreaks(JSON.parse(rows[i - 1]!.evidence) as Evidence, JSON.parse(rows[i]!.evidence) as Evidence), [], `decision ${i + 1}`);
  }
  t.diagnostic(`${rows.length} decisions (${rows.filter((r) => r.chain_id === 'controller-a').length} by a), ${traffic.rows()} synthetic rows`);
});

test('a SIGKILLed leader is replaced by the standby after the session timeout', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const down = new Teardown();
  t.after(() => down.run());
  const wh = await embeddedWarehouse(t);
  const { leader: topic } = await withTopics(t, brokers, { leader: {} });
  const group = uniqueName('g-kill');
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./service/leader-child.ts', import.meta.url))], {
    env: { ...process.env, BROKERS: brokers.join(','), TOPIC: topic, GROUP: group, INSTANCE: 'child', SESSION_MS: '6000' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  down.add(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  await waitUntil('the child leading', () => out.includes('leader true'), 30_000);

  const control = new InProcessControlChannel();
  const published: RoutingState[] = [];
  control.subscribe((s) => published.push(s));
  const c = await controllerOn(down, { wh, control, brokers, topic, group, instance: 'c', rollouts: [spec('k-v2', 'k')] });
  await waitUntil('c in the group', () => c.elector.status().joined, 30_000);
  assert.equal(c.c.isLeader(), false);
  assert.ok(!out.includes('leader false'), 'the child kept the lead when c joined');

  const killedAt = Date.now();
  child.kill('SIGKILL');
  await waitUntil('c taking over', () => c.c.isLeader(), 30_000, 100);
  t.diagnostic(`takeover ${((Date.now() - killedAt) / 1000).toFixed(1)} s after SIGKILL (session timeout 6 s)`);
  await waitUntil('c starting its rollout', () => published.some((s) => s.model === 'k' && s.cause.actor === 'controller-c'), 15_000);
  assert.equal((await c.c.rollouts.get('k-v2')).phase, 'progressing');
});
