import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addBatch, batchLogLR, logMixture, nullShare, oddsRatioPrior,
} from '../../services/controller/analysis/stats/binomial-mixture.ts';
import { hodgesLehmann, mannWhitney } from '../../services/controller/analysis/stats/mann-whitney.ts';
import { logNormalSf, logSumExp, normalCdf, normalQuantile, normalSf } from '../../services/controller/analysis/stats/normal.ts';
import { logOneSidedNormalMixture, normalLogLR } from '../../services/controller/analysis/stats/normal-mixture.ts';
import { proportionCS } from '../../services/controller/analysis/stats/proportion-cs.ts';
import { binomial, createRng, poisson } from '../../services/controller/sim/random.ts';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

test('normal tail and quantile match known values', () => {
  close(normalSf(1.959963985), 0.025, 1e-8, 'sf(1.96)');
  close(normalCdf(-1), 0.15865525393, 1e-8, 'cdf(-1)');
  close(normalSf(-2), 0.97724986805, 1e-8, 'sf(-2)');
  close(normalQuantile(0.975), 1.959963985, 1e-7, 'q(0.975)');
  close(normalQuantile(1e-6), -4.753424309, 1e-6, 'q(1e-6)');
  close(normalQuantile(0.99), 2.326347874, 1e-7, 'q(0.99)');
  // P(Z > 10) = 7.6198530241605e-24: the log stays accurate where the probability underflows double precision's comfort.
  close(logNormalSf(10), Math.log(7.6198530241605e-24), 1e-5, 'log sf(10)');
  close(logSumExp([1000, 1000]), 1000 + Math.LN2, 1e-9, 'lse');
  assert.equal(logSumExp([]), -Infinity);
});

test('Mann-Whitney U and its normal approximation match R on the permeability example', () => {
  // wilcox.test(x, y, alternative = "greater", exact = FALSE, correct = FALSE): W = 35, p = 0.1103
  const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
  const y = [1.15, 0.88, 0.9, 0.74, 1.21];
  const r = mannWhitney(x, y);
  assert.equal(r.u, 35);
  close(r.z, 1.224745, 1e-5, 'z');
  close(r.pGreater, 0.1103, 1e-4, 'p');
  close(r.auc, 0.7, 1e-12, 'auc');
});

test('Mann-Whitney corrects the variance for ties', () => {
  const r = mannWhitney([1, 1, 2, 2], [1, 2, 2, 3]);
  // pooled ties: 1 x3, 2 x4, 3 x1 -> sum t^3 - t = 24 + 60 = 84; var = 16/12 * (9 - 84/56) = 10
  close(r.variance, 10, 1e-12, 'variance');
  assert.equal(r.u, 5);
});

test('Hodges-Lehmann finds a pure shift and its interval covers it', () => {
  const y = [3, 7, 1, 9, 4, 6, 2, 8, 5, 10];
  const x = y.map((v) => v + 5);
  const hl = hodgesLehmann(x, y, 0.98);
  assert.equal(hl.estimate, 5);
  assert.ok(hl.lower <= 5 && hl.upper >= 5, `${hl.lower}..${hl.upper}`);
  assert.ok(hl.lower < hl.upper);
  const far = hodgesLehmann(y.map((v) => v + 100), y, 0.98);
  assert.ok(far.lower > 90, `lower ${far.lower}`);
});

test('batchLogLR equals the binomial log likelihood ratio at the shifted share', () => {
  const wT = 0.07;
  for (const theta of [-0.8, 0.3, 1.1]) {
    const p = (wT * Math.exp(theta)) / (1 - wT + wT * Math.exp(theta));
    const k = 9;
    const m = 61;
    const direct = k * Math.log(p / wT) + (m - k) * Math.log((1 - p) / (1 - wT));
    close(batchLogLR(theta, k, m, wT), direct, 1e-10, `theta ${theta}`);
  }
  assert.equal(batchLogLR(0.5, 0, 0, 0.1), 0);
  close(nullShare(0.05, 1), 0.05, 1e-15);
  close(nullShare(0.5, 2), 2 / 3, 1e-15);
});

test('the binomial mixture keeps its false-alarm rate under continuous monitoring', () => {
  const prior = oddsRatioPrior('up');
  const rng = createRng(11);
  const alpha = 0.1;
  let alarms = 0;
  const sequences = 400;
  for (let s = 0; s < sequences; s++) {
    let ll = prior.thetas.map(() => 0);
    for (let b = 0; b < 150; b++) {
      const w = [0.05, 0.1, 0.25, 0.5][Math.floor(b / 40)]!;
      const m = poisson(rng, 40);
      const k = binomial(rng, m, w);
      ll = addBatch(ll, prior, k, m, w);
      if (logMixture(ll, prior) >= Math.log(1 / alpha)) {
        alarms++;
        break;
      }
    }
  }
  assert.ok(alarms / sequences <= alpha, `false alarms ${alarms}/${sequences}`);
  // ...while a doubled rate is caught almost always.
  let caught = 0;
  for (let s = 0; s < 100; s++) {
    let ll = prior.thetas.map(() => 0);
    for (let b = 0; b < 150; b++) {
      const m = poisson(rng, 40);
      const k = binomial(rng, m, nullShare(0.1, 2));
      ll = addBatch(ll, prior, k, m, 0.1);
      if (logMixture(ll, prior) >= Math.log(1 / alpha)) {
        caught++;
        break;
      }
    }
  }
  assert.ok(caught >= 95, `caught ${caught}/100`);
});

test('the one-sided normal mixture starts at 1 and stays valid under continuous monitoring', () => {
  close(logOneSidedNormalMixture(0, 0, 0.1), 0, 1e-6, 'log M at start (erfc fit: 1e-7 relative)');
  assert.ok(logOneSidedNormalMixture(-50, 100, 0.5) < 0, 'negative drift gives no evidence');
  close(normalLogLR(3, 4, 0.5), 1.5 - 0.5, 1e-12, 'SPRT');
  const rng = createRng(5);
  let alarms = 0;
  for (let s = 0; s < 400; s++) {
    let sum = 0;
    let v = 0;
    for (let i = 0; i < 300; i++) {
      sum += 10 * rng.normal();
      v += 100;
      if (logOneSidedNormalMixture(sum, v, 0.05) >= Math.log(10)) {
        alarms++;
        break;
      }
    }
  }
  assert.ok(alarms / 400 <= 0.1, `false alarms ${alarms}/400`);
});

test('the proportion confidence sequence covers p at every n with probability >= 1 - alpha', () => {
  assert.deepEqual(proportionCS(0, 0, 0.05), { lower: 0, upper: 1 });
  const ci = proportionCS(30, 100, 0.05);
  assert.ok(ci.lower < 0.3 && ci.upper > 0.3);
  const wide = proportionCS(3, 10, 0.05);
  assert.ok(wide.upper - wide.lower > ci.upper - ci.lower, 'more data, narrower');
  assert.equal(proportionCS(0, 50, 0.05).lower, 0);
  assert.equal(proportionCS(50, 50, 0.05).upper, 1);
  const rng = createRng(3);
  const p = 0.2;
  let misses = 0;
  for (let s = 0; s < 200; s++) {
    let k = 0;
    for (let n = 1; n <= 1500; n++) {
      if (rng.uniform() < p) k++;
      if (n % 25 !== 0) continue;
      const c = proportionCS(k, n, 0.1);
      if (p < c.lower || p > c.upper) {
        misses++;
        break;
      }
    }
  }
  assert.ok(misses / 200 <= 0.1, `misses ${misses}/200`);
});

test('seeded random counts have the right means and are reproducible', () => {
  const a = createRng(42);
  const b = createRng(42);
  assert.equal(a.uniform(), b.uniform());
  let sumP = 0;
  let sumB = 0;
  for (let i = 0; i < 4000; i++) {
    sumP += poisson(a, 57.5);
    sumB += binomial(a, 3800, 0.01);
  }
  close(sumP / 4000, 57.5, 0.5, 'poisson mean');
  close(sumB / 4000, 38, 0.4, 'binomial mean');
  let small = 0;
  for (let i = 0; i < 4000; i++) small += poisson(a, 3);
  close(small / 4000, 3, 0.1, 'small poisson mean');
});

test('restart mixture weights never exceed 1 and start the mixture at 1', async () => {
  const { restartWeights, logRestartMixture, ROLLOUT_WEIGHT } = await import('../../services/controller/analysis/metrics/restart.ts');
  for (const steps of [1, 2, 4, 9]) {
    for (let i = 0; i < steps; i++) {
      const w = restartWeights(i, steps);
      const total = w.rollout + w.step + w.future;
      assert.ok(total <= 1 + 1e-12, `steps ${steps} index ${i}: ${total}`);
      if (i === 0) close(total, 1, 1e-12, 'nothing dropped yet');
    }
  }
  assert.deepEqual(restartWeights(0, 1), { rollout: 1, step: 0, future: 0 });
  close(logRestartMixture(0, 0, restartWeights(0, 4)), 0, 1e-12, 'X = 1 at the start');
  // A late step's martingale counts even when the rollout-long one has sunk.
  const w = restartWeights(3, 4);
  assert.ok(logRestartMixture(-50, Math.log(1 / w.step) + 5, w) >= 5, 'restarted evidence carries the mixture');
  assert.ok(ROLLOUT_WEIGHT > 0.5);
});
