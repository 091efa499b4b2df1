import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControllerErrors } from '../../services/controller/errors.ts';
import type { Decision } from '../../services/controller/rollout/decision.ts';
import { manual, nextWindow, tick, type Transition } from '../../services/controller/rollout/machine.ts';
import { recompute } from '../../services/controller/rollout/recompute.ts';
import { parseRolloutSpec, type RolloutSpecInput } from '../../services/controller/rollout/spec.ts';
import { createRollout, type RolloutState } from '../../services/controller/rollout/state.ts';
import { arm, input, lognormalGrid } from './helpers.ts';

const SIGMA = Math.log(2.5) / 1.6448536;
const stableLat = lognormalGrid(1000, 100, SIGMA);
const canaryLat = lognormalGrid(200, 100, SIGMA);

/** The rollout of these tests has no bake (bake.seconds 0: promoted at 100%); test/controller/bake.test.ts has the bake. */
function spec(extra: Partial<RolloutSpecInput> = {}) {
  return parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', tick: { intervalS: 10, lagS: 0 }, bake: { seconds: 0 }, ...extra });
}

function started(extra: Partial<RolloutSpecInput> = {}): RolloutState {
  return tick(createRollout(spec(extra)), null, 0).state;
}

/** Ticks every 10 s with windows built by `make` until `until` ms or a non-wait decision. */
function run(state: RolloutState, from: number, until: number, make: (w: { from: number; to: number }) => ReturnType<typeof input> | null): { state: RolloutState; decisions: Decision[] } {
  const decisions: Decision[] = [];
  for (let now = from; now <= until; now += 10_000) {
    const w = nextWindow(state, now);
    const t: Transition = tick(state, w ? make(w) : null, now);
    state = t.state;
    decisions.push(t.decision);
    if (t.decision.action !== 'wait') break;
  }
  return { state, decisions };
}

const healthy = (w: { from: number; to: number }) => input('r1', w.from, w.to, arm(3800, 38, stableLat), arm(200, 2, canaryLat));
const broken = (w: { from: number; to: number }) => input('r1', w.from, w.to, arm(3800, 38, stableLat), arm(200, 10, canaryLat));

test('the first tick starts the rollout at the first step', () => {
  const t = tick(createRollout(spec()), null, 1000);
  assert.equal(t.decision.action, 'start');
  assert.equal(t.state.phase, 'progressing');
  assert.equal(t.decision.toWeight, 5);
  assert.deepEqual(t.decision.routing, { stable: { version: 'v1', weight: 95 }, canary: { version: 'v2', weight: 5, state: 'active' }, fallback: null });
  assert.deepEqual(nextWindow(t.state, 11_000), { from: 1000, to: 11_000 });
});

test('no data is never a failure: the controller waits and says how long', () => {
  let s = started();
  for (let now = 10_000; now <= 60_000; now += 10_000) {
    const w = nextWindow(s, now)!;
    const t = tick(s, input('r1', w.from, w.to, arm(0, 0, []), arm(0, 0, [])), now);
    assert.equal(t.decision.action, 'wait', `at ${now}`);
    assert.ok(t.decision.etaSeconds !== null && t.decision.etaSeconds > 0, 'an ETA is given');
    s = t.state;
  }
  assert.equal(s.phase, 'progressing');
  assert.equal(s.weight, 5);
  const t = tick(s, null, 70_000);
  assert.equal(t.decision.action, 'wait', 'a tick without a window still decides');
});

test('a healthy canary is promoted step by step after the minimum time and samples', () => {
  let s = started();
  const weights: number[] = [];
  let now = 10_000;
  for (let guard = 0; guard < 200 && s.phase === 'progressing'; guard++, now += 10_000) {
    const w = nextWindow(s, now);
    const t = tick(s, w ? healthy(w) : null, now);
    if (t.decision.action === 'promote' || t.decision.action === 'complete') {
      weights.push(t.decision.toWeight);
      assert.ok(t.decision.evidence.step.elapsedS >= 60, 'minimum duration respected');
      // Recomputed from the stored inputs (the evidence as JSON), the whole decision comes back...
      const stored = JSON.parse(JSON.stringify(t.decision.evidence));
      const again = recompute(stored);
      assert.deepEqual({ action: again.action, toWeight: again.toWeight, phase: again.phase, reason: again.reason },
        { action: t.decision.action, toWeight: t.decision.toWeight, phase: t.state.phase, reason: t.decision.reason });
      // ...and the inputs decide it: too few canary requests, or too little observed time, is a wait.
      const fewer = recompute({ ...stored, step: { ...stored.step, canaryRequests: stored.step.minSamples - 1 } });
      assert.equal(fewer.action, 'wait', `at ${now}: fewer canary requests than minSamples`);
      const sooner = recompute({ ...stored, step: { ...stored.step, observedS: stored.step.minDurationS - 1, elapsedS: stored.step.minDurationS - 1 } });
      assert.equal(sooner.action, 'wait', `at ${now}: less time than minDurationS`);
    }
    s = t.state;
  }
  assert.deepEqual(weights, [10, 25, 50, 100]);
  assert.equal(s.phase, 'promoted');
  assert.equal(s.weight, 100);
});

test('a canary with 5% errors against 1% is rolled back, and recompute agrees from the stored evidence alone', () => {
  const r = run(started(), 10_000, 600_000, broken);
  const d = r.decisions.at(-1)!;
  assert.equal(d.action, 'rollback');
  assert.equal(d.toWeight, 0);
  assert.equal(d.routing.canary.state, 'tripped');
  assert.equal(r.state.phase, 'rolled_back');
  assert.match(d.reason, /error_rate/);
  const stored = JSON.parse(JSON.stringify(d.evidence));
  const again = recompute(stored);
  assert.equal(again.action, 'rollback');
  assert.equal(again.toWeight, 0);
  // The evidence is what decides: with a tenfold smaller alpha the same statistics no longer suffice.
  const stricter = { ...stored, metrics: stored.metrics.map((m: { alpha: number }) => ({ ...m, alpha: m.alpha / 1e6 })) };
  assert.notEqual(recompute(stricter).action, 'rollback');
  assert.throws(() => recompute({ ...stored, v: 2 }), (e: unknown) => ControllerErrors.evidenceInvalid.is(e));
});

test('onFailure pause holds the weight instead of rolling back', () => {
  const r = run(started({ onFailure: 'pause' }), 10_000, 600_000, broken);
  const d = r.decisions.at(-1)!;
  assert.equal(d.action, 'pause');
  assert.equal(d.toWeight, 5);
  assert.equal(r.state.phase, 'paused');
  assert.equal(recompute(d.evidence).action, 'pause');
});

test('a regression on a non-critical metric pauses', () => {
  const r = run(started({ metrics: [{ kind: 'error_rate', critical: false }, { kind: 'latency' }] }), 10_000, 600_000, broken);
  assert.equal(r.decisions.at(-1)!.action, 'pause');
  assert.match(r.decisions.at(-1)!.reason, /non-critical/);
});

test('a step that never decides times out into onTimeout', () => {
  const steps = [{ weight: 5, maxDurationS: 120 }, 100];
  const noData = (w: { from: number; to: number }) => input('r1', w.from, w.to, arm(0, 0, []), arm(0, 0, []));
  const paused = run(started({ steps }), 10_000, 600_000, noData);
  assert.equal(paused.decisions.at(-1)!.action, 'pause');
  assert.match(paused.decisions.at(-1)!.reason, /no decision after 120s/);
  const rolled = run(started({ steps, onTimeout: 'rollback' }), 10_000, 600_000, noData);
  assert.equal(rolled.decisions.at(-1)!.action, 'rollback');
});

test('a step that times out on slow evidence names each pending metric with the time it would still need', () => {
  // 20 requests a window, 1 in 20 at the canary: the error rate heads toward acceptance, too slowly for 300 s.
  const steps = [{ weight: 5, maxDurationS: 300 }, 100];
  let i = 0;
  const slow = (w: { from: number; to: number }) => input('r1', w.from, w.to, arm(19, i++ % 5 === 0 ? 1 : 0, []), arm(1, 0, []));
  const r = run(started({ steps, metrics: [{ kind: 'error_rate' }], stepDefaults: { minSamples: 0 } }), 10_000, 600_000, slow);
  const last = r.decisions.at(-1)!;
  assert.equal(last.action, 'pause');
  const m = /no decision after 300s at 5% \(waiting on error_rate: about (\d+)s more at this traffic\)/.exec(last.reason);
  assert.ok(m, last.reason);
  const eta = Number(m[1]);
  assert.ok(eta > 0 && eta === Math.round(last.evidence.metrics[0]!.etaAcceptS!), `eta ${eta}`);
});

test('manual operations are pure transitions with an actor', () => {
  let s = started();
  const p = manual(s, 'pause', 5000, 'alice');
  assert.equal(p.decision.action, 'pause');
  assert.equal(p.decision.actor, 'alice');
  assert.equal(p.state.phase, 'paused');
  assert.equal(recompute(p.decision.evidence).action, 'pause');
  assert.throws(() => manual(p.state, 'pause', 6000, 'alice'), (e: unknown) => ControllerErrors.badTransition.is(e));
  const r = manual(p.state, 'resume', 7000, 'bob');
  assert.equal(r.state.phase, 'progressing');
  assert.equal(r.state.stepStartedAt, 7000, 'the step timer restarts on resume');
  s = r.state;
  const pr = manual(s, 'promote', 8000, 'bob');
  assert.equal(pr.decision.action, 'promote');
  assert.equal(pr.decision.toWeight, 10);
  assert.equal(recompute(pr.decision.evidence).toWeight, 10);
  const ab = manual(pr.state, 'abort', 9000, 'carol');
  assert.equal(ab.decision.action, 'abort');
  assert.equal(ab.state.phase, 'aborted');
  assert.equal(ab.decision.routing.canary.weight, 0);
  assert.throws(() => tick(ab.state, null, 10_000), (e: unknown) => ControllerErrors.badTransition.is(e));
  assert.throws(() => manual(ab.state, 'resume', 10_000, 'dave'), (e: unknown) => ControllerErrors.badTransition.is(e));
});

test('promote now at the last step completes the rollout', () => {
  let s = started({ steps: [50, 100] });
  const t = manual(s, 'promote', 1000, 'alice');
  assert.equal(t.decision.action, 'complete');
  assert.equal(t.state.phase, 'promoted');
  s = t.state;
  assert.equal(s.weight, 100);
  // The last step (100%) is where it ends, so step and weight agree in every view.
  assert.equal(s.stepIndex, 1);
});

test('an input for the wrong window or with bad counts is refused with the field named', () => {
  const s = started();
  const badWindow = input('r1', 5, 10_000, arm(10, 0, []), arm(1, 0, []));
  assert.throws(() => tick(s, badWindow, 10_000), (e: unknown) => ControllerErrors.inputInvalid.is(e) && /window/.test((e as Error).message));
  const tooManyErrors = input('r1', 0, 10_000, arm(10, 11, [], { outcomes: { ok: 10 } }), arm(1, 0, []));
  assert.throws(() => tick(s, tooManyErrors, 10_000), (e: unknown) => ControllerErrors.inputInvalid.is(e) && /stable\.errors/.test((e as Error).message));
  const nan = input('r1', 0, 10_000, arm(10, 0, [Number.NaN]), arm(1, 0, []));
  assert.throws(() => tick(s, nan, 10_000), (e: unknown) => ControllerErrors.inputInvalid.is(e) && /stable\.latencySample\[0\]/.test((e as Error).message));
  assert.throws(() => tick(s, healthy({ from: 0, to: 10_000 }), 5000), (e: unknown) => ControllerErrors.inputInvalid.is(e));
});

test('a slower canary tail is rolled back on the latency metric', () => {
  const slow = lognormalGrid(200, 100, Math.log(3.5) / 1.6448536);
  const r = run(started(), 10_000, 600_000, (w) => input('r1', w.from, w.to, arm(3800, 38, stableLat), arm(200, 2, slow)));
  const d = r.decisions.at(-1)!;
  assert.equal(d.action, 'rollback');
  assert.match(d.reason, /latency:p9[59]/);
  assert.equal(recompute(JSON.parse(JSON.stringify(d.evidence))).action, 'rollback');
});

test('each decision chains to the one before it: statistics = previous + the recorded window', async () => {
  const { chainBreaks } = await import('../../services/controller/rollout/recompute.ts');
  const mixed = parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', tick: { intervalS: 10, lagS: 0 }, metrics: [{ kind: 'error_rate' }, { kind: 'latency' }, { kind: 'latency', quantile: 'p50', method: 'mann_whitney' }] });
  let t = tick(createRollout(mixed), null, 0);
  const evidences = [t.decision.evidence];
  for (let now = 10_000; now <= 200_000 && t.state.phase === 'progressing'; now += 10_000) {
    const w = nextWindow(t.state, now);
    t = now === 50_000 ? tick(t.state, null, now) : tick(t.state, w ? healthy(w) : null, now);
    evidences.push(JSON.parse(JSON.stringify(t.decision.evidence)));
  }
  assert.ok(evidences.length > 10 && evidences.some((e, i) => i > 0 && e.stepIndex > 0), "the chain spans a promotion");
  for (let i = 1; i < evidences.length; i++) assert.deepEqual(chainBreaks(evidences[i - 1]!, evidences[i]!), [], `decision ${i}`);
  // Tampering with a window's recorded counts breaks the chain.
  const last = evidences.at(-1)!;
  const tampered = { ...last, metrics: last.metrics.map((m, i) => (i === 0 ? { ...m, last: { ...m.last, k: (m.last?.k ?? 0) + 1 } } : m)) };
  assert.deepEqual(chainBreaks(evidences.at(-2)!, tampered), ['error_rate']);
});
