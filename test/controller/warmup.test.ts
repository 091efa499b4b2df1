/** Warm-up exclusion, observed-time steps and the evidence chain with over-dispersion scaling (rollout/machine.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Decision } from '../../services/controller/rollout/decision.ts';
import { nextWindow, tick } from '../../services/controller/rollout/machine.ts';
import { chainBreaks, recompute } from '../../services/controller/rollout/recompute.ts';
import { parseRolloutSpec, type RolloutSpecInput } from '../../services/controller/rollout/spec.ts';
import { createRollout, type RolloutState } from '../../services/controller/rollout/state.ts';
import { arm, input, lognormalGrid } from './helpers.ts';

const SIGMA = Math.log(2.5) / 1.6448536;
const stableLat = lognormalGrid(1000, 100, SIGMA);
const canaryLat = lognormalGrid(200, 100, SIGMA);
const slowLat = canaryLat.map((x) => 2 * x);

/** These tests are about the steps: no bake after 100% (test/controller/bake.test.ts has it). */
function start(extra: Partial<RolloutSpecInput> = {}): RolloutState {
  const spec = parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', tick: { intervalS: 10, lagS: 0 }, bake: { seconds: 0 }, ...extra });
  return tick(createRollout(spec), null, 0).state;
}

type Make = (w: { from: number; to: number }, stepAt: number) => ReturnType<typeof input> | null;

/** Ticks every 10 s until a non-wait decision other than promote, or `until`. */
function run(state: RolloutState, until: number, make: Make): { state: RolloutState; decisions: Decision[] } {
  const decisions: Decision[] = [];
  for (let now = 10_000; now <= until; now += 10_000) {
    const w = nextWindow(state, now);
    const t = tick(state, w ? make(w, state.stepStartedAt ?? 0) : null, now);
    state = t.state;
    decisions.push(t.decision);
    if (t.decision.action !== 'wait' && t.decision.action !== 'promote') break;
  }
  return { state, decisions };
}

/** 2x latencies for the first 30 s of every step, healthy after; errors normal. */
const warmingUp: Make = (w, stepAt) => input('r1', w.from, w.to, arm(3800, 38, stableLat), arm(200, 2, w.from - stepAt < 30_000 ? slowLat : canaryLat));

test('warm-up: 2x latencies in the first 30 s of each step do not roll back with the default spec; with warmup 0 they do', () => {
  const r = run(start(), 3_600_000, warmingUp);
  assert.equal(r.state.phase, 'promoted', r.decisions.at(-1)!.reason);
  const cold = run(start({ warmup: { seconds: 0 } }), 3_600_000, warmingUp);
  assert.equal(cold.state.phase, 'rolled_back');
  assert.match(cold.decisions.at(-1)!.reason, /latency/);
});

test('warm-up: latency metrics record an empty window, the error rate still counts; observed time skips warm-up windows', () => {
  const r = run(start(), 30_000, warmingUp);
  const d = r.decisions[0]!;
  assert.equal(d.evidence.step.warmupWindow, true);
  const byName = Object.fromEntries(d.evidence.metrics.map((m) => [m.config.name, m]));
  assert.equal(byName['latency:p95']!.last!.warmup, 1);
  assert.equal(byName['latency:p95']!.last!.m, 0);
  assert.ok((byName.error_rate!.last!.m ?? 0) > 0, 'the error rate is judged during the warm-up');
  const after = r.decisions.at(-1)!;
  assert.equal(after.evidence.step.observedS, 0, 'three warm-up windows: no observed time yet');
  assert.equal(after.evidence.step.elapsedS, 30);
});

test('warm-up by requests: windows stay excluded until the canary has served that many', () => {
  const r = run(start({ warmup: { seconds: 0, requests: 500 } }), 40_000, warmingUp);
  // 200 canary requests a window: windows 1-3 (600 requests) are warm-up, the 4th is judged.
  assert.deepEqual(r.decisions.map((d) => d.evidence.step.warmupWindow), [true, true, true, false]);
});

test('warm-up with metrics: all leaves the error rate out too', () => {
  const r = run(start({ warmup: { seconds: 30, metrics: 'all' } }), 10_000, warmingUp);
  const err = r.decisions[0]!.evidence.metrics.find((m) => m.config.name === 'error_rate')!;
  assert.equal(err.last!.warmup, 1);
});

test('a step counts observed data: after a telemetry gap it is not promoted on a few seconds of data', () => {
  // Plenty of evidence per window, so only minDurationS (60 s) holds the step; no rows from 20 s to 200 s.
  const gap: Make = (w) => (w.from >= 20_000 && w.to <= 200_000
    ? input('r1', w.from, w.to, arm(0, 0, []), arm(0, 0, []))
    : input('r1', w.from, w.to, arm(20_000, 200, stableLat), arm(20_000, 200, canaryLat)));
  const r = run(start({ warmup: { seconds: 0 }, metrics: [{ kind: 'error_rate', detect: 3 }] }), 600_000, gap);
  const promote = r.decisions.find((d) => d.action === 'promote')!;
  assert.ok(promote.evidence.step.observedS! >= 60, `observed ${promote.evidence.step.observedS}`);
  assert.ok(promote.at >= 240_000, `promoted at ${promote.at}: 20 s before the gap and 40 s after it`);
});

test('evidence chains window by window with the over-dispersion scale, and recompute reproduces every decision', () => {
  const r = run(start(), 3_600_000, warmingUp);
  const evidences = r.decisions.map((d) => JSON.parse(JSON.stringify(d.evidence)) as Decision['evidence']);
  const scaled = evidences.flatMap((e) => e.metrics).filter((m) => m.test === 'binomial' && typeof m.last?.f === 'number' && m.last.f < 1);
  assert.ok(scaled.length > 0, 'some windows were scaled by f < 1');
  for (let i = 1; i < evidences.length; i++) assert.deepEqual(chainBreaks(evidences[i - 1]!, evidences[i]!), [], `decision ${i}`);
  r.decisions.forEach((d, i) => assert.equal(recompute(evidences[i]!).action, d.action, `decision ${i}`));
  // Tampering with a window's recorded scale breaks the chain.
  const i = evidences.findIndex((e, j) => j > 0 && e.metrics.some((m) => m.test === 'binomial' && (m.last?.m ?? 0) > 0 && (m.last?.f ?? 1) < 1));
  const tampered = JSON.parse(JSON.stringify(evidences[i])) as { metrics: { test: string; last: Record<string, number> | null }[] };
  const m = tampered.metrics.find((x) => x.test === 'binomial' && (x.last?.m ?? 0) > 0 && (x.last?.f ?? 1) < 1)!;
  m.last!.f = 1;
  assert.notDeepEqual(chainBreaks(evidences[i - 1]!, tampered as never), []);
});

test('the last analysed step of the error rate rules out ruleOut, and the evidence says which ratio', () => {
  const r = run(start({ warmup: { seconds: 0 } }), 3_600_000, (w) => input('r1', w.from, w.to, arm(3800, 38, stableLat), arm(200, 2, canaryLat)));
  assert.equal(r.state.phase, 'promoted');
  const complete = r.decisions.at(-1)!;
  assert.equal(complete.action, 'complete');
  const err = complete.evidence.metrics.find((m) => m.config.name === 'error_rate')!;
  assert.ok(Math.abs(err.estimate.ruledOutRatio! - 1.25) < 1e-9, `ruled out ${err.estimate.ruledOutRatio}`);
  const first = r.decisions.find((d) => d.action === 'promote')!;
  const err0 = first.evidence.metrics.find((m) => m.config.name === 'error_rate')!;
  assert.ok(err0.estimate.ruledOutRatio! > 2, `an early step rules out detect x tolerance: ${err0.estimate.ruledOutRatio}`);
});
