/** The over-dispersion estimate and scaling (analysis/metrics/binomial.ts) on synthetic blocks with known variance. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeBlock, dispersionScale, foldDispersion, PRIOR_BLOCKS } from '../../services/controller/analysis/metrics/binomial.ts';
import type { DispersionState } from '../../services/controller/analysis/metrics/types.ts';
import { binomial, createRng } from '../../services/controller/sim/random.ts';

const EMPTY: DispersionState = { block: { s: 0, k: 0, m: 0, mw: 0 }, closed: { k: 0, m: 0, mw: 0 }, sumX1: 0, sumV: 0, blocks: 0, tau2: 0 };

/** Feeds `blocks` blocks of six 10 s windows; the canary's share has log-odds noise of variance tau2 per block. */
function estimate(tau2: number, blocks: number, seed: number, m = 400, w = 0.25): DispersionState {
  const rng = createRng(seed);
  let d = EMPTY;
  for (let b = 0; b < blocks; b++) {
    const lo = Math.log(w / (1 - w)) + Math.sqrt(tau2) * rng.normal();
    const p = 1 / (1 + Math.exp(-lo));
    for (let i = 0; i < 6; i++) {
      const k = binomial(rng, m, p);
      d = foldDispersion(d, k, m, w, 10, 60);
    }
  }
  return d;
}

test('dispersion: about 0 for binomial windows, close to the truth for over-dispersed ones', () => {
  const none = estimate(0, 200, 1);
  assert.equal(none.blocks, 199, 'every block after the first is counted');
  assert.ok(none.tau2 < 0.002, `tau2 ${none.tau2} without noise`);
  for (const truth of [0.02, 0.0625]) {
    const d = estimate(truth, 300, 2);
    assert.ok(Math.abs(d.tau2 - truth) < 0.35 * truth, `tau2 ${d.tau2.toFixed(4)} for ${truth}`);
  }
});

test('dispersion: a real difference of the share is not taken for noise (the centre follows the data)', () => {
  // The canary's share is 0.35 while the null share is 0.25: a constant shift, no noise.
  const rng = createRng(3);
  let d = EMPTY;
  for (let b = 0; b < 100; b++) for (let i = 0; i < 6; i++) d = foldDispersion(d, binomial(rng, 400, 0.35), 400, 0.25, 10, 60);
  assert.ok(d.tau2 < 0.003, `tau2 ${d.tau2}`);
});

test('dispersion scale: 1 when off or without events; shrinks with the variance and the block size; prior before blocks', () => {
  assert.equal(dispersionScale(EMPTY, 0.03, 100, 0.5, 10, 0), 1, 'blockS 0 turns it off');
  assert.equal(dispersionScale(EMPTY, 0.03, 0, 0.5, 10, 60), 1);
  // No blocks yet: the prior alone. V_block = 100 x 0.25 x 6 = 150, f = 1 / (1 + 0.03 x 150).
  assert.ok(Math.abs(dispersionScale(EMPTY, 0.03, 100, 0.5, 10, 60) - 1 / (1 + 0.03 * 150)) < 1e-12);
  const noisy = estimate(0.0625, 100, 4);
  const quiet = estimate(0, 100, 4);
  const fNoisy = dispersionScale(noisy, 0.03, 100, 0.5, 10, 60);
  const fQuiet = dispersionScale(quiet, 0.03, 100, 0.5, 10, 60);
  assert.ok(fNoisy < fQuiet, `${fNoisy} < ${fQuiet}`);
  // With many quiet blocks the prior's floor has faded: f is close to 1.
  assert.ok(fQuiet > 1 / (1 + ((0.03 * PRIOR_BLOCKS) / (PRIOR_BLOCKS + 99)) * 150) - 1e-9, `f ${fQuiet}`);
  // A window twice as long sees half the shared-noise weight per event (V_block fixed by the block length).
  assert.ok(Math.abs(dispersionScale(noisy, 0.03, 200, 0.5, 20, 60) - fNoisy) < 1e-12);
});

test('dispersion scale with a floor (the bake): quiet blocks never take it below the floor', () => {
  const quiet = estimate(0, 100, 4);
  // V_block = 150; the floor 0.05 holds however many quiet blocks the estimate has seen.
  assert.ok(Math.abs(dispersionScale(quiet, 0.03, 100, 0.5, 10, 60, 0.05) - 1 / (1 + 0.05 * 150)) < 1e-12);
  assert.ok(dispersionScale(quiet, 0.03, 100, 0.5, 10, 60) > 1 / (1 + 0.01 * 150), 'without the floor the quiet estimate wins');
  // A noisier estimate than the floor is used as it is.
  const noisy = estimate(0.0625, 100, 4);
  assert.equal(dispersionScale(noisy, 0.03, 100, 0.5, 10, 60, 0.001), dispersionScale(noisy, 0.03, 100, 0.5, 10, 60));
});

test('dispersion: closing a block early (a weight change) keeps its data in the centre', () => {
  let d = foldDispersion(EMPTY, 10, 100, 0.1, 10, 60);
  d = closeBlock(d);
  assert.deepEqual(d.block, { s: 0, k: 0, m: 0, mw: 0 });
  assert.deepEqual(d.closed, { k: 10, m: 100, mw: 10 });
  assert.equal(d.blocks, 0, 'the first block has nothing before it to be centred on');
});
