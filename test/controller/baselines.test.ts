import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flaggerPolicy } from '../../services/controller/sim/baselines/flagger.ts';
import { classify, kayentaPolicy } from '../../services/controller/sim/baselines/kayenta.ts';
import { arm, input, lognormalGrid } from './helpers.ts';

const lat = lognormalGrid(200, 100, 0.5);

test('Flagger-style: failed checks add up (not in a row) and no data counts as a failure', () => {
  const p = flaggerPolicy({ intervalS: 60, threshold: 3, stepWeights: [5, 10, 25, 50], minSuccessRate: 98.5, maxP99Ms: 1e6, sampleSize: 1000 });
  assert.equal(p.start(), 5);
  const bad = (t: number) => input('x', t - 60_000, t, arm(1000, 10, lat), arm(100, 5, lat));
  const good = (t: number) => input('x', t - 60_000, t, arm(1000, 10, lat), arm(100, 1, lat));
  assert.deepEqual(p.decide(bad(60_000), 60_000), { status: 'running', weight: 5 });
  assert.deepEqual(p.decide(good(120_000), 120_000), { status: 'running', weight: 10 });
  assert.deepEqual(p.decide(null, 180_000), { status: 'running', weight: 10 }, 'no data: second failure');
  assert.deepEqual(p.decide(bad(240_000), 240_000), { status: 'rolled_back', weight: 0 });
  const q = flaggerPolicy({ intervalS: 60, threshold: 5, stepWeights: [5, 50], minSuccessRate: 98.5, maxP99Ms: 1e6, sampleSize: 1000 });
  q.start();
  q.decide(good(60_000), 60_000);
  assert.deepEqual(q.decide(good(120_000), 120_000), { status: 'promoted', weight: 100 });
});

test('Kayenta-style classification: High needs the interval to clear 25% of the estimate', () => {
  const stable = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01, 0.99, 1.03];
  assert.equal(classify(stable.map((x) => x * 2), stable, { confidence: 0.98, tolerance: 0.25 }), 'High');
  assert.equal(classify(stable.map((x) => x * 1.001), stable, { confidence: 0.98, tolerance: 0.25 }), 'Pass');
  assert.equal(classify([Number.NaN], stable, { confidence: 0.98, tolerance: 0.25 }), 'Nodata');
  assert.equal(classify([1, 1], [1, 1], { confidence: 0.98, tolerance: 0.25 }), 'Pass');
});

test('Kayenta-style policy judges once per step and rolls back a failing score', () => {
  const p = kayentaPolicy({ intervalS: 60, stepDurationS: 300, stepWeights: [5, 10], confidence: 0.98, tolerance: 0.25, pass: 95, marginal: 75, latencyQuantile: 0.95, sampleSize: 1000 });
  assert.equal(p.start(), 5);
  let last = { status: 'running', weight: 5 } as ReturnType<typeof p.decide>;
  for (let t = 60_000; t <= 300_000; t += 60_000) {
    last = p.decide(input('x', t - 60_000, t, arm(1000, 10, lat), arm(100, 10 + t / 60_000, lat)), t);
    if (t < 300_000) assert.equal(last.status, 'running', 'no judgment before the step ends');
  }
  assert.deepEqual(last, { status: 'rolled_back', weight: 0 });
});
