import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControllerErrors } from '../../services/controller/errors.ts';
import { runScenario } from '../../services/controller/sim/run.ts';
import { parseScenario } from '../../services/controller/sim/scenario.ts';

const base = {
  traffic: { rps: 400 },
  arms: { stable: { errorRate: 0.01, latency: { median: 100, p95: 250 } } },
  rollout: { steps: [5, 10, 25, 50, 100] },
};

test('A/A: identical arms are promoted and almost never rolled back (seeded, 200 rollouts)', () => {
  const r = runScenario(parseScenario({ ...base, name: 'aa', runs: 200, seed: 99 }));
  assert.ok(r.rollbacks <= 2, `false rollbacks ${r.rollbacks}/200`);
  assert.ok(r.promotionRate >= 0.95, `promoted ${r.promotions}/200`);
  assert.ok(r.timeToPromoteS.median !== null && r.timeToPromoteS.median >= 240, 'four steps of at least 60 s');
});

// 150 s, not 120: the default error tolerance has an absolute floor and the test allows for
// over-dispersion (docs/canary.md, "Over-dispersion"), which cost about 20 s here.
test('errors 1% -> 2%: rolled back in >= 95% of runs, median within 150 s (seeded, 80 rollouts)', () => {
  const r = runScenario(parseScenario({ ...base, name: 'err', runs: 80, seed: 7, arms: { ...base.arms, canary: { errorRate: 0.02 } } }));
  assert.ok(r.rollbackRate >= 0.95, `rolled back ${r.rollbacks}/80`);
  assert.ok(r.timeToRollbackS.median! <= 150, `median ${r.timeToRollbackS.median}s`);
});

test('p95 latency +25%: rolled back in >= 95% of runs, median within 2 minutes (seeded, 60 rollouts)', () => {
  const r = runScenario(parseScenario({ ...base, name: 'lat', runs: 60, seed: 8, arms: { ...base.arms, canary: { latency: { median: 100, p95: 312.5 } } } }));
  assert.ok(r.rollbackRate >= 0.95, `rolled back ${r.rollbacks}/60`);
  assert.ok(r.timeToRollbackS.median! <= 120, `median ${r.timeToRollbackS.median}s`);
});

test('a regression that starts 2 minutes after 100% is caught during the bake; A/A bakes and is promoted (seeded, 30 rollouts each)', () => {
  const leak = runScenario(parseScenario({
    ...base, name: 'leak', runs: 30, seed: 11,
    afterPromotion: [{ afterS: 120, arm: 'canary', errorRate: 0.02, latency: { median: 100, p95: 312.5 } }],
  }));
  assert.ok(leak.bakeRollbacks! >= 27, `caught in the bake ${leak.bakeRollbacks}/30 (rolled back ${leak.rollbacks})`);
  assert.ok(leak.bakeRollbackAfterS!.median! > 120, 'not before the regression started');
  const aa = runScenario(parseScenario({ ...base, name: 'aa-bake', runs: 30, seed: 12 }));
  assert.equal(aa.promotions, 30);
  assert.equal(aa.timeToPromoteS.median! - aa.timeToFullS!.median!, 600, 'the default bake: 600 s at 100% before promoted');
});

// Per-minute noise at 2000 requests/s: each minute's wander outweighs the binomial noise of the
// first windows, so the between-block variance prior (TAU2_PRIOR.rate) and the bake's burn-in
// carry the first minutes. With the earlier prior (0.005) and no burn-in: 5.0% over 300 runs.
test('per-minute noise at 2000 req/s: at most 3% false rollbacks over the steps and the bake (seeded, 150 rollouts)', () => {
  const r = runScenario(parseScenario({
    ...base, name: 'noise-2000', runs: 150, seed: 20261215, traffic: { rps: 2000 },
    arms: { ...base.arms, canary: { noise: { intervalS: 60, errorSigma: 0.25, latencySigma: 0.08 } } },
  }));
  assert.ok(r.rollbacks <= 4, `false rollbacks ${r.rollbacks}/150 (${r.bakeRollbacks} in the bake)`);
});

test('a regression that starts mid-rollout is caught after it starts', () => {
  const r = runScenario(parseScenario({
    ...base, name: 'late', runs: 30, seed: 3,
    rollout: { steps: [5, 10, 25, 50, 100], stepDefaults: { minDurationS: 120 } },
    changes: [{ at: 150, arm: 'canary', errorRate: 0.05 }],
  }));
  assert.ok(r.rollbackRate >= 0.9, `rolled back ${r.rollbacks}/30`);
  assert.ok(r.timeToRollbackS.median! > 150, `median ${r.timeToRollbackS.median}s is after the change`);
});

test('the same seed gives the same results; another seed gives other ones', () => {
  const sc = parseScenario({ ...base, name: 'det', runs: 15, seed: 5, arms: { ...base.arms, canary: { errorRate: 0.02 } } });
  const clock = () => 0;
  const a = runScenario(sc, { clock });
  const b = runScenario(sc, { clock });
  assert.deepEqual(a, b);
  const c = runScenario(sc, { clock, seed: 6 });
  assert.notDeepEqual(c.timeToRollbackS, a.timeToRollbackS);
});

test('scenario errors name the field', () => {
  const bad = (raw: unknown, re: RegExp) => assert.throws(() => parseScenario(raw), (e: unknown) => ControllerErrors.scenarioInvalid.is(e) && re.test((e as Error).message));
  bad({ ...base, name: 'x', traffic: { rps: 0 } }, /traffic\.rps/);
  bad({ ...base, name: 'x', arms: { stable: { latency: { median: 100 } } } }, /arms\.stable\.latency/);
  bad({ ...base, name: 'x', arms: { stable: { latency: { median: 100, p95: 50 } } } }, /arms\.stable\.latency/);
  bad({ ...base, name: 'x', rollout: { steps: [5, 50] } }, /rollout\.steps\.1/);
  bad({ ...base, name: 'x', rollout: { alpha: 3 } }, /rollout\.alpha/);
  bad({ ...base, name: 'x', traffic: { rps: [{ at: 10, rps: 5 }] } }, /schedule must start at 0/);
  bad({ ...base, name: 'x', arms: { stable: { errorRate: 0.7, outcomes: { timeout: 0.5 }, latency: { median: 1, p99: 2 } } } }, /add up to/);
  bad({ ...base, name: 'x', extra: 1 }, /extra|Unrecognized/);
});

test('a rate schedule and a latency mixture are accepted', () => {
  const sc = parseScenario({
    ...base, name: 'mix', runs: 5,
    traffic: { rps: [{ at: 0, rps: 400 }, { at: 120, rps: 100 }] },
    arms: { stable: { errorRate: 0.01, latency: { mixture: [{ weight: 9, median: 80, p95: 150 }, { weight: 1, median: 400, p99: 1200 }] } } },
  });
  assert.equal(sc.rps.length, 2);
  assert.equal(sc.periods[0]![1].latency.length, 2);
  assert.ok(Math.abs(sc.periods[0]![1].latency[0]!.weight - 0.9) < 1e-12);
  const r = runScenario(sc);
  assert.equal(r.runs, 5);
});

test('the simulator also serves as a MetricsProvider for a controller loop', async () => {
  const { simulatedProvider } = await import('../../services/controller/sim/provider.ts');
  const { createRng } = await import('../../services/controller/sim/random.ts');
  const { createRollout } = await import('../../services/controller/rollout/state.ts');
  const { nextWindow, tick } = await import('../../services/controller/rollout/machine.ts');
  const sc = parseScenario({ ...base, name: 'port', arms: { ...base.arms, canary: { errorRate: 0.06 } } });
  const weights: { at: number; weight: number }[] = [];
  const provider = simulatedProvider(sc, createRng(1), () => weights);
  let t = tick(createRollout(sc.rollout), null, 0);
  weights.push({ at: 0, weight: t.state.weight });
  for (let now = 10_000; now <= 600_000 && t.state.phase === 'progressing'; now += 10_000) {
    const w = nextWindow(t.state, now);
    t = tick(t.state, w ? await provider.collect(sc.rollout, w) : null, now);
    if (t.state.weight !== weights.at(-1)!.weight) weights.push({ at: now, weight: t.state.weight });
  }
  assert.equal(t.state.phase, 'rolled_back');
  assert.equal(t.decision.evidence.window!.to - t.decision.evidence.window!.from, 10_000);
});

// Issue 16: traffic shaped like real rollouts, default spec (seeded; rates with margins).
test('warm-up: 2x p95 for 30 s after each weight change is not rolled back (40 rollouts); with warmup 0 it is', () => {
  const sc = { ...base, name: 'warm', runs: 40, seed: 31, arms: { ...base.arms, canary: { warmup: { seconds: 30, latencyFactor: 2 } } } };
  const r = runScenario(parseScenario(sc));
  assert.ok(r.rollbacks <= 1, `false rollbacks ${r.rollbacks}/40`);
  const cold = runScenario(parseScenario({ ...sc, runs: 20, rollout: { ...base.rollout, warmup: { seconds: 0 } } }));
  assert.ok(cold.rollbackRate >= 0.8, `without the warm-up: rolled back ${cold.rollbacks}/20`);
});

test('per-minute noise (sigma 0.25 errors, 0.08 latency) at 2000 req/s: few false rollbacks; without the dispersion estimate many (40 rollouts)', () => {
  const sc = { ...base, name: 'noise', runs: 40, seed: 32, traffic: { rps: 2000 }, arms: { ...base.arms, canary: { noise: { intervalS: 60, errorSigma: 0.25, latencySigma: 0.08 } } } };
  const r = runScenario(parseScenario(sc));
  assert.ok(r.rollbacks <= 2, `false rollbacks ${r.rollbacks}/40`);
  const naive = runScenario(parseScenario({ ...sc, rollout: { ...base.rollout, analysis: { dispersionBlockS: 0 } } }));
  assert.ok(naive.rollbacks >= 6, `windows taken as independent: ${naive.rollbacks}/40 rolled back`);
});

test('a zero-error healthy version is promoted (30 rollouts)', () => {
  const r = runScenario(parseScenario({ ...base, name: 'zero', runs: 30, seed: 33, arms: { stable: { errorRate: 0, latency: { median: 100, p95: 250 } } } }));
  assert.ok(r.promotionRate >= 0.95, `promoted ${r.promotions}/30`);
});

test('errors 1% -> 1.3% and a p99-only +40% tail are not promoted (30 rollouts each)', () => {
  const err = runScenario(parseScenario({ ...base, name: 'e13', runs: 30, seed: 34, arms: { ...base.arms, canary: { errorRate: 0.013 } } }));
  assert.ok(err.promotions <= 2, `errors 1.3%: promoted ${err.promotions}/30`);
  const tail = runScenario(parseScenario({
    ...base, name: 'p99', runs: 30, seed: 35,
    arms: { ...base.arms, canary: { latency: { mixture: [{ weight: 99, median: 100, p95: 250 }, { weight: 1, median: 700, p95: 1100 }] } } },
  }));
  assert.ok(tail.promotions <= 2, `p99 +40%: promoted ${tail.promotions}/30`);
});
