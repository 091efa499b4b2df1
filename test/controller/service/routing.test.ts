/**
 * The controller's routing states (pure parts, in-process channel): weights from the decision,
 * other versions kept at 0, the fallback rule, generations above everything seen and never
 * repeated, the re-delivery skip; decision rows and their action mapping; the config section
 * and the config's rollouts; the metrics' headline values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessControlChannel } from '../../../services/routing/channel.ts';
import { parseRoutingState, type RoutingState } from '../../../services/routing/state.ts';
import { ControllerProcessConfig, ControllerSection } from '../../../services/controller/service/config.ts';
import { headline } from '../../../services/controller/service/prometheus.ts';
import { decisionRow, routingChanged, rowAction } from '../../../services/controller/service/decision-rows.ts';
import { manual, tick } from '../../../services/controller/rollout/machine.ts';
import { recompute } from '../../../services/controller/rollout/recompute.ts';
import { parseRolloutSpec } from '../../../services/controller/rollout/spec.ts';
import { createRollout } from '../../../services/controller/rollout/state.ts';
import { RoutingFollower } from '../../../services/routing/follower.ts';
import { rolloutState } from '../../../services/controller/service/rollout-routing.ts';
import { configRollouts } from '../../../services/controller/service/controller.ts';
import { silentLogger } from '../../../services/core/log.ts';
import { CanaryDecisionRowSchema } from '../../../services/ledger/rows.ts';
import { arm, input, lognormalGrid } from '../helpers.ts';

const spec = parseRolloutSpec({ id: 'r', model: 'm', stable: 'v1', canary: 'v2', steps: [10, 100], stepDefaults: { minDurationS: 0, minSamples: 0 }, warmup: { seconds: 0 } });
const routing = (w: number, state: 'active' | 'tripped' = 'active', fallback: string | null = null) => ({ stable: { version: 'v1', weight: 100 - w }, canary: { version: 'v2', weight: w, state }, fallback });
const cause = (at: number) => ({ actor: 'controller-x', reason: 'why', id: 'd1', at });

test('routing: the decision\'s weights, other versions kept at 0, fallback from the spec or the current state', async () => {
  const control = new InProcessControlChannel();
  const current: RoutingState = {
    model: 'm', generation: 5_000_000_000_000, fallback: 'v0',
    versions: [{ name: 'v0', weight: 30, state: 'active' }, { name: 'v1', weight: 70, state: 'tripped' }], cause: { kind: 'admin', actor: 'ops', reason: '', id: '', at: 1 },
  };
  await control.publish(current);
  const f = new RoutingFollower(control, silentLogger());
  await f.sync();
  const s = parseRoutingState(rolloutState(f, spec, routing(10), cause(1000)));
  assert.deepEqual(s.versions, [{ name: 'v1', weight: 90, state: 'active' }, { name: 'v2', weight: 10, state: 'active' }, { name: 'v0', weight: 0, state: 'active' }]);
  assert.equal(s.fallback, 'v0', 'inherited when the spec names none');
  assert.equal(s.generation, current.generation + 1, 'above the admin\'s (future) generation');
  assert.equal(s.rollout_id, 'r');
  assert.deepEqual(s.cause, { kind: 'controller', actor: 'controller-x', reason: 'why', id: 'd1', at: 1000 });
  // Built twice in the same millisecond: still two generations.
  const again = rolloutState(f, spec, routing(10), cause(1000));
  assert.equal(again.generation, s.generation + 1);
  const withFallback = rolloutState(f, spec, routing(0, 'tripped', 'v9'), cause(1000));
  assert.equal(withFallback.fallback, 'v9');
  assert.deepEqual(withFallback.versions.at(-1), { name: 'v9', weight: 0, state: 'active' });
  assert.equal(withFallback.versions.find((v) => v.name === 'v2')!.state, 'tripped');
  parseRoutingState(withFallback);

  // Publishing: a state not above the latest known is skipped (re-delivered outbox).
  assert.equal(await f.publish(again), true);
  assert.equal(await f.publish(s), false);
  assert.equal(f.current('m')!.generation, again.generation);
  f.close();
});

test('routing: without any state, the generation is the clock; the canary is never inherited as fallback', async () => {
  const control = new InProcessControlChannel();
  await control.publish({ model: 'm', generation: 1, fallback: 'v2', versions: [{ name: 'v1', weight: 50, state: 'active' }, { name: 'v2', weight: 50, state: 'active' }], cause: { kind: 'config', actor: 'c', reason: '', id: '', at: 1 } });
  const f = new RoutingFollower(control, silentLogger());
  await f.sync();
  const s = rolloutState(f, spec, routing(10), cause(1_700_000_000_000));
  assert.equal(s.generation, 1_700_000_000_000);
  assert.equal(s.fallback, null);
  const fresh = new RoutingFollower(new InProcessControlChannel(), silentLogger());
  assert.equal(rolloutState(fresh, spec, routing(10), cause(42)).generation, 42);
});

test('decision rows: actions mapped to the table\'s set, evidence recomputable, valid rows', () => {
  const t0 = 1_800_000_000_000;
  const started = manual(createRollout(spec), 'start', t0, 'alice');
  assert.equal(rowAction(started.decision), 'manual_start');
  assert.equal(routingChanged(createRollout(spec), started.decision), true);
  const good = arm(1000, 10, lognormalGrid(200, 100, 0.3));
  const ticked = tick(started.state, input('r', t0, t0 + 60_000 - 5000, good, { ...good, requests: 1000 }), t0 + 60_000);
  const row = decisionRow(ticked.decision, spec, 0, { table: 'requests' }, 'dec-1');
  const parsed = CanaryDecisionRowSchema.parse(row);
  assert.equal(parsed.decision_id, 'dec-1');
  assert.equal(parsed.action, ticked.decision.action === 'complete' ? 'promote' : ticked.decision.action);
  const evidence = JSON.parse(parsed.evidence);
  assert.equal(evidence.result.action, ticked.decision.action);
  assert.deepEqual(evidence.collection, { table: 'requests' });
  assert.equal(recompute(evidence).action, ticked.decision.action);
  const paused = manual(started.state, 'pause', t0 + 1, 'bob');
  assert.equal(rowAction(paused.decision), 'manual_pause');
  assert.equal(routingChanged(started.state, paused.decision), false);
  assert.equal(String(decisionRow(paused.decision, spec, 0, {}).evidence).includes('"collection":null'), true, 'no window, no collection');
});

test('config: defaults, field errors, rollouts inline and from a file', () => {
  const c = ControllerSection.parse({});
  assert.equal(c.port, 9466);
  assert.equal(c.controlTopic, 'mlgate.control.v1');
  assert.equal(c.leader.topic, 'mlgate.controller.leader.v1');
  assert.equal(c.leader.sessionTimeoutMs, 6000);
  assert.equal(c.decisions.waitEveryS, 0);
  assert.match(c.instanceId, /^[A-Za-z0-9._-]{1,50}$/);
  const bad = ControllerProcessConfig.safeParse({ controller: { tokens: [{ name: 'x', token: 'short' }], leader: { mode: 'zookeeper' } } });
  assert.equal(bad.success, false);
  const paths = bad.error!.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('controller.tokens.0.token') && paths.includes('controller.leader.mode'), paths.join(', '));
  const parse = (raw: unknown, source: string) => parseRolloutSpec(raw, source);
  const inline = ControllerSection.parse({ rollouts: [{ id: 'a', model: 'm', stable: 'v1', canary: 'v2' }] });
  assert.deepEqual(configRollouts(inline, parse).map((s) => s.id), ['a']);
  const wrong = ControllerSection.parse({ rollouts: [{ id: 'a', model: 'm', stable: 'v1', canary: 'v2', steps: [50, 20, 100] }] });
  assert.throws(() => configRollouts(wrong, parse), /invalid controller\.rollouts\.0: steps\.1: weights must be strictly increasing/);
  const dup = ControllerSection.parse({ rollouts: [{ id: 'a', model: 'm', stable: 'v1', canary: 'v2' }, { id: 'a', model: 'n', stable: 'v1', canary: 'v2' }] });
  assert.throws(() => configRollouts(dup, parse), /declared twice/);
  const file = ControllerSection.parse({ rolloutsFile: new URL('../../../docs/examples/rollouts/fraud-v2.yaml', import.meta.url).pathname });
  const fromFile = configRollouts(file, parse);
  assert.ok(fromFile.length >= 1 && fromFile.every((s) => s.steps.at(-1)!.weight === 100));
  assert.throws(() => configRollouts(ControllerSection.parse({ rolloutsFile: '/nonexistent/rollouts.yaml' }), parse), /cannot read rollouts file/);
  const badYaml = join(mkdtempSync(join(tmpdir(), 'rollouts-')), 'bad.yaml');
  writeFileSync(badYaml, 'rollouts: [\n  - id: a\n');
  assert.throws(() => configRollouts(ControllerSection.parse({ rolloutsFile: badYaml }), parse),
    (err: Error & { code?: string }) => err.code === 'MLG_CTL_SPEC_INVALID' && /rollouts file .*bad\.yaml is not valid YAML: .*line/s.test(err.message));
});

test('metrics: headline values against their bounds, in the metric\'s unit', () => {
  const t0 = 1_800_000_000_000;
  const s0 = manual(createRollout(spec), 'start', t0, 'x').state;
  const w = tick(s0, input('r', t0, t0 + 55_000, arm(1000, 10, lognormalGrid(200, 100, 0.3)), arm(200, 4, lognormalGrid(200, 110, 0.3))), t0 + 60_000).state;
  const err = headline(w.metrics.find((m) => m.config.kind === 'error_rate')!)!;
  assert.ok(Math.abs(err.value - 0.02) < 1e-9, 'canary error rate');
  assert.ok(Math.abs(err.tolerance - (0.01 * 1.05 + 0.0005)) < 1e-9, 'stable rate x (1 + relative) + absolute');
  const lat = headline(w.metrics.find((m) => m.config.kind === 'latency')!)!;
  assert.ok(lat.value > lat.tolerance / 1.05, 'canary p95 above stable p95');
  assert.equal(headline(s0.metrics[0]!), null, 'no estimate before the first window');
});
