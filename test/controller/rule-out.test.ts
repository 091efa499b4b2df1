/**
 * The error rate's ruleOut: a rollout-long acceptance test (every step's windows, each at its own
 * null share), which the last analysed step needs besides its own test at `detect`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchLogLR } from '../../services/controller/analysis/stats/binomial-mixture.ts';
import type { BinomialState } from '../../services/controller/analysis/metrics/types.ts';
import type { Decision } from '../../services/controller/rollout/decision.ts';
import { nextWindow, tick } from '../../services/controller/rollout/machine.ts';
import { chainBreaks, recompute } from '../../services/controller/rollout/recompute.ts';
import { parseRolloutSpec } from '../../services/controller/rollout/spec.ts';
import { createRollout, type RolloutState } from '../../services/controller/rollout/state.ts';
import { arm, input } from './helpers.ts';

const LOG_BETA = Math.log(0.1);

/** Error rate only, no warm-up and no bake; 400 requests a 10 s window split by the canary's weight, both arms at `errors`. */
function rollout(canaryErrors: number, until = 7_200_000): { state: RolloutState; decisions: Decision[] } {
  const spec = parseRolloutSpec({
    id: 'r1', model: 'm', stable: 'v1', canary: 'v2', tick: { intervalS: 10, lagS: 0 }, bake: { seconds: 0 },
    warmup: { seconds: 0 }, metrics: [{ kind: 'error_rate' }],
  });
  let state = tick(createRollout(spec), null, 0).state;
  const decisions: Decision[] = [];
  for (let now = 10_000; now <= until; now += 10_000) {
    const w = nextWindow(state, now);
    const nC = Math.round(4000 * state.weight / 100);
    const nS = 4000 - nC;
    // Deterministic counts at the rates (rounded), so the test needs no seed.
    const data = w ? input('r1', w.from, w.to, arm(nS, Math.round(nS * 0.01), []), arm(nC, Math.round(nC * canaryErrors), [])) : null;
    const t = tick(state, data, now);
    state = t.state;
    decisions.push(t.decision);
    if (t.decision.action !== 'wait' && t.decision.action !== 'promote') break;
  }
  return { state, decisions };
}

const errorRate = (d: Decision) => d.evidence.metrics.find((m) => m.config.name === 'error_rate') as BinomialState;

test('the ruleOut test sums the windows of every step and never restarts; the last step needs it and its own test', () => {
  const r = rollout(0.01);
  assert.equal(r.state.phase, 'promoted', r.decisions.at(-1)!.reason);
  const evs = r.decisions.map(errorRate);
  // Each window adds its log LR at its own θ_R, across step changes.
  let expected = 0;
  for (const e of evs) {
    const l = e.last!;
    if ((l.m ?? 0) > 0 && typeof l.thetaR === 'number') expected += batchLogLR(l.thetaR, l.f! * l.k!, l.f! * l.m!, l.wTilde!);
    assert.ok(Math.abs(e.ruleOut!.llr - expected) < 1e-9, `llr ${e.ruleOut!.llr} vs ${expected}`);
  }
  const lastStep = r.decisions.findIndex((d) => d.evidence.weight === 50);
  assert.ok(lastStep > 0);
  assert.ok(evs[lastStep - 1]!.ruleOut!.llr < -0.5, `the steps before 50% already moved the ruleOut test: ${evs[lastStep - 1]!.ruleOut!.llr}`);
  assert.ok(r.decisions.slice(0, lastStep).every((d) => errorRate(d).ruleOut!.applies === false), 'the ruleOut gates the last analysed step only');
  // In the last step, a wait with the step's own test accepted means the ruleOut test had not.
  const inLast = r.decisions.slice(lastStep);
  const held = inLast.filter((d) => d.action === 'wait' && errorRate(d).step.llr1 <= LOG_BETA);
  assert.ok(held.length > 0, "the step's own test accepted before the ruleOut test did");
  for (const d of held) assert.ok(errorRate(d).ruleOut!.llr > LOG_BETA, 'held with both tests accepted');
  const done = r.decisions.at(-1)!;
  assert.equal(done.action, 'complete');
  const e = errorRate(done);
  assert.ok(e.ruleOut!.applies && e.ruleOut!.llr <= LOG_BETA && e.step.llr1 <= LOG_BETA, `both accept: ${e.step.llr1}, ${e.ruleOut!.llr}`);
  assert.ok(Math.abs(e.estimate.ruledOutRatio! - 1.25) < 1e-9, `ruled out ${e.estimate.ruledOutRatio}`);
  assert.match(done.evidence.metrics[0]!.config.name, /error_rate/);
});

test('a canary at 1.3x stable\'s errors is never promoted to 100%, though each step alone accepts no regression of detect x tolerance', () => {
  const r = rollout(0.013);
  const weights = r.decisions.map((d) => d.toWeight);
  assert.ok(!weights.includes(100), `reached 100%: ${r.decisions.at(-1)!.reason}`);
  assert.ok(weights.includes(50), 'the detect-level steps pass');
  assert.notEqual(r.state.phase, 'promoted');
  assert.match(r.decisions.at(-1)!.reason, /error_rate/);
});

test('evidence with the ruleOut chains window by window; a tampered ruleOut statistic breaks the chain; recompute reproduces every decision', () => {
  const r = rollout(0.01);
  const evidences = r.decisions.map((d) => JSON.parse(JSON.stringify(d.evidence)) as Decision['evidence']);
  for (let i = 1; i < evidences.length; i++) assert.deepEqual(chainBreaks(evidences[i - 1]!, evidences[i]!), [], `decision ${i}`);
  r.decisions.forEach((d, i) => assert.equal(recompute(evidences[i]!).action, d.action, `decision ${i}`));
  const i = evidences.length - 1;
  const tampered = JSON.parse(JSON.stringify(evidences[i])) as { metrics: { ruleOut: { llr: number } }[] };
  tampered.metrics[0]!.ruleOut.llr -= 1;
  assert.deepEqual(chainBreaks(evidences[i - 1]!, tampered as never), ['error_rate']);
});
