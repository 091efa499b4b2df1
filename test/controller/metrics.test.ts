import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldMetrics, initMetrics, judge, metricAlpha, metricAlphas, resetStep } from '../../services/controller/analysis/evaluate.ts';
import { distance, distanceBounds } from '../../services/controller/analysis/metrics/distribution.ts';
import type { MetricState } from '../../services/controller/analysis/metrics/types.ts';
import { parseRolloutSpec, type RolloutSpecInput } from '../../services/controller/rollout/spec.ts';
import { arm, input, lognormalGrid } from './helpers.ts';

type Arm = ReturnType<typeof arm>;

function states(metrics: RolloutSpecInput['metrics']): MetricState[] {
  return initMetrics(parseRolloutSpec({ id: 'r', model: 'm', stable: 'a', canary: 'b', metrics }));
}

/** Folds `n` identical windows and returns the final states. */
function feed(s: MetricState[], n: number, stable: Arm, canary: Arm): MetricState[] {
  for (let i = 0; i < n; i++) s = foldMetrics(s, input('r', i * 10_000, (i + 1) * 10_000, stable, canary), { stepElapsedS: (i + 1) * 10 });
  return s;
}

const lat = lognormalGrid(100, 100, 0.5);

test('alpha is split over the metrics (Bonferroni, the error rate weighted double)', () => {
  const s = states([{ kind: 'error_rate' }, { kind: 'latency' }, { kind: 'outcome_rate', outcome: 'timeout' }, { kind: 'latency', quantile: 'p99' }]);
  assert.equal(metricAlpha({ alpha: 0.01, metrics: new Array(4) as never }), 0.0025);
  assert.deepEqual(s.map((m) => Math.round(m.alpha * 1e6) / 1e6), [0.004, 0.002, 0.002, 0.002]);
  assert.ok(Math.abs(metricAlphas({ alpha: 0.01, metrics: s.map((m) => m.config) }).reduce((a, b) => a + b, 0) - 0.01) < 1e-15, 'the shares add up to alpha');
  assert.ok(s.every((m) => Math.abs(m.beta - 0.1) < 1e-12));
});

test('an outcome whose rate must not drop is tested downwards', () => {
  const s0 = states([{ kind: 'outcome_rate', outcome: 'ok', direction: 'lower_is_worse', tolerance: { relative: 0.01 } }]);
  const ok = (n: number, okCount: number): Arm => ({ ...arm(n, 0, lat.slice(0, Math.min(100, n))), outcomes: { ok: okCount, bad_request: n - okCount } });
  const bad = feed(s0, 30, ok(3800, 3762), ok(200, 180));
  assert.equal(judge(bad[0]!).status, 'regressed', 'ok rate 90% against 99% is a regression');
  const fine = feed(s0, 30, ok(3800, 3762), ok(200, 198));
  assert.notEqual(judge(fine[0]!).status, 'regressed');
});

test('shadow disagreement beyond tolerance rolls back, agreement within it is accepted', () => {
  const s0 = states([{ kind: 'shadow_agreement', tolerance: { absolute: 0.05 } }]);
  const withShadow = (agreed: number) => arm(100, 0, lat, { shadow: { compared: 100, agreed } });
  assert.equal(judge(feed(s0, 12, arm(100, 0, lat), withShadow(80))[0]!).status, 'regressed');
  assert.equal(judge(feed(s0, 12, arm(100, 0, lat), withShadow(99))[0]!).status, 'accepted');
  assert.equal(judge(feed(s0, 3, arm(100, 0, lat), arm(100, 0, lat))[0]!).status, 'no_data');
});

test('a custom value compared window by window (sign test)', () => {
  const s0 = states([{ kind: 'custom_sql', name: 'tokens', sql: 'SELECT avg(tokens_out)', direction: 'higher_is_worse', tolerance: { relative: 0.1 } }]);
  const c = (v: number) => arm(100, 0, lat, { custom: { tokens: v } });
  assert.equal(judge(feed(s0, 15, c(100), c(150))[0]!).status, 'regressed');
  assert.equal(judge(feed(s0, 15, c(100), c(100))[0]!).status, 'accepted');
  assert.equal(judge(feed(s0, 15, arm(100, 0, lat), arm(100, 0, lat))[0]!).status, 'no_data');
});

test('label mix: a shifted label share is caught, the same mix is accepted', () => {
  const s0 = states([{ kind: 'label_mix', tolerance: { absolute: 0.05 } }]);
  const labels = (fraud: number) => arm(1000, 0, lat, { labelCounts: { fraud, legit: 1000 - fraud } });
  assert.equal(judge(feed(s0, 10, labels(100), labels(300))[0]!).status, 'regressed');
  const same = feed(s0, 10, labels(100), labels(100));
  assert.equal(judge(same[0]!).status, 'accepted');
  assert.deepEqual((same[0] as { categories: readonly string[] }).categories, ['fraud', 'legit']);
  assert.equal(judge(resetStep(same, { index: 1, analysed: 4 })[0]!).status, 'no_data', 'a new step needs its own data');
});

test('score shift (KS and PSI) on binned scores', () => {
  const scores = (shift: number) => Array.from({ length: 500 }, (_, i) => (i + 0.5) / 500 + shift).map((x) => Math.min(1, x));
  for (const method of ['ks', 'psi'] as const) {
    const s0 = states([{ kind: 'score_shift', method, tolerance: { absolute: 0.1 } }]);
    const a = (shift: number) => arm(1000, 0, lat, { scoreSample: scores(shift) });
    const moved = feed(s0, 20, a(0), a(0.35));
    assert.equal(judge(moved[0]!).status, 'regressed', `${method} detects a moved distribution`);
    const same = feed(s0, 20, a(0), a(0));
    assert.equal(judge(same[0]!).status, 'accepted', `${method} accepts the same distribution`);
  }
  assert.equal(distance('ks', [1, 1, 0, 0], [0, 0, 1, 1]), 1);
  assert.equal(distance('share', [5, 5], [5, 5]), 0);
  const b = distanceBounds('ks', [50, 50], [50, 50], 0.05)!;
  assert.ok(b.lower === 0 && b.upper > 0 && b.upper < 1);
});

test('Mann-Whitney latency: a slower canary is caught, the same one accepted', () => {
  const s0 = states([{ kind: 'latency', method: 'mann_whitney', quantile: 'p50' }]);
  const slow = lat.map((x) => x * 1.4);
  assert.equal(judge(feed(s0, 10, arm(100, 0, lat), arm(100, 0, slow))[0]!).status, 'regressed');
  assert.equal(judge(feed(s0, 10, arm(100, 0, lat), arm(100, 0, lat))[0]!).status, 'accepted');
});

test('an absolute tolerance lets a canary with no errors through when stable has none either', () => {
  const s0 = states([{ kind: 'error_rate', tolerance: { relative: 0.1, absolute: 0.002 } }]);
  const s = feed(s0, 12, arm(1000, 0, lat), arm(500, 0, lat));
  assert.equal(judge(s[0]!).status, 'accepted', 'upper bound of the canary rate is under the absolute tolerance');
  const none = feed(states([{ kind: 'error_rate', tolerance: { relative: 0.1 } }]), 12, arm(1000, 0, lat), arm(500, 0, lat));
  assert.equal(judge(none[0]!).status, 'inconclusive', 'without an absolute tolerance zero errors carry no evidence');
});

test('metric states are JSON and judge the same after a round trip', () => {
  const s = feed(states([{ kind: 'error_rate' }, { kind: 'latency' }, { kind: 'label_mix' }]), 5, arm(3800, 40, lat, { labelCounts: { a: 10 } }), arm(200, 5, lat, { labelCounts: { a: 1 } }));
  const back = JSON.parse(JSON.stringify(s)) as MetricState[];
  assert.deepEqual(back.map(judge), s.map(judge));
});

test('latency metrics on LLM token timing: a doubled canary ttft regresses, the same is accepted; a lower output rate regresses', () => {
  const ttft = lognormalGrid(100, 400, 0.4);
  const tps = lognormalGrid(100, 50, 0.3);
  const timed = (ttftMs: number[], rate: number[]) => arm(300, 0, lat, { fieldSamples: { ttft_ms: ttftMs, output_tps: rate } });
  const s0 = states([{ kind: 'latency', field: 'ttft_ms', quantile: 'p95' }, { kind: 'latency', field: 'output_tps', direction: 'lower_is_worse' }]);
  const slowFirst = feed(s0, 10, timed(ttft, tps), timed(ttft.map((x) => x * 2), tps));
  assert.deepEqual(slowFirst.map((m) => judge(m).status), ['regressed', 'accepted'], 'ttft doubled, the same output rate');
  const same = feed(s0, 10, timed(ttft, tps), timed(ttft, tps));
  assert.deepEqual(same.map((m) => judge(m).status), ['accepted', 'accepted']);
  const slowRate = feed(s0, 10, timed(ttft, tps), timed(ttft, tps.map((x) => x / 2)));
  assert.deepEqual(slowRate.map((m) => judge(m).status), ['accepted', 'regressed'], 'half the output rate is worse');
  const fastRate = feed(s0, 10, timed(ttft, tps), timed(ttft, tps.map((x) => x * 2)));
  assert.equal(judge(fastRate[1]!).status, 'accepted', 'twice the output rate is not a regression');
  const est = slowRate[1]!.estimate as { canaryQuantile: number; stableQuantile: number };
  assert.ok(est.canaryQuantile < est.stableQuantile && est.stableQuantile < 50, `the slow tail (5th percentile) is reported: ${JSON.stringify(est)}`);
  // Mann-Whitney on the rate, lower is worse.
  const mw = states([{ kind: 'latency', field: 'output_tps', method: 'mann_whitney', quantile: 'p50' }]);
  assert.equal(judge(feed(mw, 10, timed(ttft, tps), timed(ttft, tps.map((x) => x / 1.4)))[0]!).status, 'regressed');
  assert.equal(judge(feed(mw, 10, timed(ttft, tps), timed(ttft, tps.map((x) => x * 1.4)))[0]!).status, 'accepted');
  // No token timing in the window (no LLM streams): nothing to judge.
  assert.equal(judge(feed(s0, 3, arm(300, 0, lat), arm(300, 0, lat))[0]!).status, 'no_data');
});
