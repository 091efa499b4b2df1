/** The bake after 100% (rollout/machine.ts, rollout/decide.ts, analysis/metrics/bake.ts) and its spec. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initMetrics } from '../../services/controller/analysis/evaluate.ts';
import { foldBake, startBake } from '../../services/controller/analysis/metrics/bake.ts';
import { EMPTY_DISPERSION } from '../../services/controller/analysis/metrics/binomial.ts';
import type { BinomialState } from '../../services/controller/analysis/metrics/types.ts';
import { ControllerErrors } from '../../services/controller/errors.ts';
import type { Decision } from '../../services/controller/rollout/decision.ts';
import { manual, nextWindow, tick } from '../../services/controller/rollout/machine.ts';
import { recompute } from '../../services/controller/rollout/recompute.ts';
import { parseRolloutSpec, type RolloutSpecInput } from '../../services/controller/rollout/spec.ts';
import { createRollout, type RolloutState } from '../../services/controller/rollout/state.ts';
import { arm, input, lognormalGrid } from './helpers.ts';

const SIGMA = Math.log(2.5) / 1.6448536;
const stableLat = lognormalGrid(1000, 100, SIGMA);
const canaryLat = lognormalGrid(200, 100, SIGMA);
const fullLat = lognormalGrid(1000, 100, SIGMA);

function start(extra: Partial<RolloutSpecInput> = {}): RolloutState {
  const spec = parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', tick: { intervalS: 10, lagS: 0 }, warmup: { seconds: 0 }, ...extra });
  return tick(createRollout(spec), null, 0).state;
}

type Bake = (w: { from: number; to: number }) => ReturnType<typeof input>;

/** Healthy steps at 5% (canary 1% errors like stable); at 100% the canary alone, as `bake` says. */
function drive(state: RolloutState, until: number, bake: Bake): { state: RolloutState; decisions: Decision[] } {
  const decisions: Decision[] = [];
  for (let now = 10_000; now <= until; now += 10_000) {
    const w = nextWindow(state, now);
    const data = w === null ? null : state.weight >= 100 ? bake(w) : input('r1', w.from, w.to, arm(3800, 38, stableLat), arm(200, 2, canaryLat));
    const t = tick(state, data, now);
    state = t.state;
    decisions.push(t.decision);
    if (state.phase !== 'progressing' && state.phase !== 'baking') break;
  }
  return { state, decisions };
}

const healthyBake: Bake = (w) => input('r1', w.from, w.to, arm(0, 0, []), arm(4000, 40, fullLat));
const erroringBake: Bake = (w) => input('r1', w.from, w.to, arm(0, 0, []), arm(4000, 100, fullLat));
const slowBake: Bake = (w) => input('r1', w.from, w.to, arm(0, 0, []), arm(4000, 40, fullLat.map((x) => 1.6 * x)));

function recomputesEveryDecision(decisions: readonly Decision[]): void {
  for (const d of decisions) {
    const again = recompute(JSON.parse(JSON.stringify(d.evidence)));
    assert.deepEqual([again.action, again.phase, again.toWeight], [d.action, d.phase, d.toWeight], `decision ${d.seq}: ${d.reason}`);
  }
}

test('bake: a healthy canary bakes at 100% with the previous stable kept at weight 0, then is promoted', () => {
  const r = drive(start({ bake: { seconds: 120 } }), 3_600_000, healthyBake);
  assert.equal(r.state.phase, 'promoted', r.decisions.at(-1)!.reason);
  const enter = r.decisions.find((d) => d.action === 'complete')!;
  assert.equal(enter.phase, 'baking');
  assert.equal(enter.toWeight, 100);
  assert.deepEqual(enter.routing.stable, { version: 'v1', weight: 0 }, 'the previous stable stays configured');
  const baking = r.decisions.filter((d) => d.phase === 'baking' && d.action === 'wait');
  assert.ok(baking.length >= 10, `${baking.length} decisions while baking`);
  assert.match(baking[0]!.reason, /baking at 100%/);
  assert.equal(baking[0]!.evidence.phase, 'baking');
  const last = r.decisions.at(-1)!;
  assert.equal(last.action, 'finish');
  assert.ok(last.evidence.bake!.elapsedS >= 120, 'the bake lasted its seconds');
  assert.equal(last.at - enter.at, 120_000);
  // The watched metrics ran their one-sample test against stable's baseline during the bake.
  const watched = last.evidence.metrics.filter((m) => m.test === 'binomial' && m.bake);
  assert.deepEqual(watched.map((m) => m.config.name), ['error_rate', 'latency:p95', 'latency:p99']);
  for (const m of watched) assert.ok(m.test === 'binomial' && m.bake!.nullShare !== null && m.bake!.m > 0, `${m.config.name} tested`);
  recomputesEveryDecision(r.decisions);
});

test('bake: an error regression after 100% rolls back to the previous stable, with the evidence', () => {
  const r = drive(start({ bake: { seconds: 600 } }), 3_600_000, erroringBake);
  const last = r.decisions.at(-1)!;
  assert.equal(r.state.phase, 'rolled_back', last.reason);
  assert.equal(last.action, 'rollback');
  assert.equal(last.evidence.phase, 'baking');
  assert.deepEqual([last.routing.stable.weight, last.routing.canary.weight, last.routing.canary.state], [100, 0, 'tripped']);
  assert.match(last.reason, /during the bake.*error_rate/);
  const bakeS = (last.at - r.decisions.find((d) => d.action === 'complete')!.at) / 1000;
  // The bake's first three 60 s blocks estimate its over-dispersion (the burn-in); then 2.5x errors show at once.
  assert.ok(bakeS > 180 && bakeS <= 240, `caught ${bakeS}s into the bake`);
  recomputesEveryDecision(r.decisions);
});

test('bake: a latency regression after 100% rolls back on the latency metric', () => {
  const r = drive(start(), 3_600_000, slowBake);
  const last = r.decisions.at(-1)!;
  assert.equal(r.state.phase, 'rolled_back', last.reason);
  assert.match(last.reason, /during the bake.*latency:p9/);
  recomputesEveryDecision(r.decisions);
});

test('bake 0: the promotion to 100% ends the rollout, as before the bake existed', () => {
  const r = drive(start({ bake: { seconds: 0 } }), 3_600_000, erroringBake);
  const last = r.decisions.at(-1)!;
  assert.equal(r.state.phase, 'promoted');
  assert.equal(last.action, 'complete');
  assert.equal(r.decisions.filter((d) => d.phase === 'baking').length, 0);
});

test('bake: the default is 600 s; an operator can pause, resume (back to baking), end it early or abort it', () => {
  assert.equal(parseRolloutSpec({ id: 'a', model: 'm', stable: 'v1', canary: 'v2' }).bake!.seconds, 600);
  const s = manual(start({ steps: [50, 100] }), 'promote', 1000, 'alice');
  assert.deepEqual([s.decision.action, s.state.phase, s.state.weight], ['complete', 'baking', 100]);
  const paused = manual(s.state, 'pause', 2000, 'bob');
  assert.equal(paused.state.phase, 'paused');
  const resumed = manual(paused.state, 'resume', 3000, 'bob');
  assert.deepEqual([resumed.state.phase, resumed.state.weight], ['baking', 100]);
  const done = manual(resumed.state, 'promote', 4000, 'alice');
  assert.deepEqual([done.decision.action, done.state.phase, done.state.weight], ['finish', 'promoted', 100]);
  assert.equal(recompute(JSON.parse(JSON.stringify(done.decision.evidence))).action, 'finish');
  const aborted = manual(s.state, 'abort', 2000, 'carol');
  assert.deepEqual([aborted.state.phase, aborted.decision.routing.stable.weight, aborted.decision.routing.canary.state], ['aborted', 100, 'tripped']);
});

test('bake: time spent paused does not count toward the bake, in the state and in the evidence', () => {
  // 120 s of bake: 30 s baking, paused for 1000 s, resumed; it ends 90 s after the resume.
  const entered = manual(start({ steps: [50, 100], bake: { seconds: 120 } }), 'promote', 10_000, 'alice');
  assert.equal(entered.state.phase, 'baking');
  let state = entered.state;
  const step = (now: number) => {
    const w = nextWindow(state, now);
    const t = tick(state, w === null ? null : healthyBake(w), now);
    state = t.state;
    return t.decision;
  };
  for (let now = 20_000; now <= 40_000; now += 10_000) step(now);
  state = manual(state, 'pause', 40_000, 'bob').state;
  const whilePaused = step(1_000_000);
  assert.equal(whilePaused.evidence.bake!.elapsedS, 30, 'the bake clock stood still while paused');
  const resumed = manual(state, 'resume', 1_040_000, 'bob');
  state = resumed.state;
  assert.equal(resumed.decision.evidence.bake!.elapsedS, 30);
  const decisions: Decision[] = [];
  for (let now = 1_050_000; state.phase === 'baking' && now <= 1_300_000; now += 10_000) decisions.push(step(now));
  const last = decisions.at(-1)!;
  assert.equal(last.action, 'finish', last.reason);
  assert.equal(last.at, 1_040_000 + 90_000, 'finished 90 s after the resume: 30 + 90 = 120 s of bake');
  assert.ok(last.evidence.bake!.elapsedS >= 120 && last.evidence.bake!.elapsedS < 130);
  recomputesEveryDecision(decisions);
});

test('bake: spec errors name the field', () => {
  const rejects = (raw: unknown, re: RegExp) => assert.throws(() => parseRolloutSpec(raw), (err: unknown) => {
    assert.ok(ControllerErrors.specInvalid.is(err), String(err));
    assert.match(err.message, re);
    return true;
  });
  const minimal = { id: 'a', model: 'm', stable: 'v1', canary: 'v2' };
  rejects({ ...minimal, bake: { seconds: -1 } }, /bake\.seconds/);
  rejects({ ...minimal, bake: { seconds: 5 } }, /bake\.seconds: must be 0 \(no bake\) or at least one tick \(tick\.intervalS = 10s\), not 5/);
  rejects({ ...minimal, bake: { minutes: 10 } }, /bake: .*minutes/);
  rejects({ ...minimal, bake: { seconds: 'long' } }, /bake\.seconds/);
});

test('bake: the rollout\'s measured wander is a floor under the bake\'s own over-dispersion estimate', () => {
  const spec = parseRolloutSpec({ id: 'r1', model: 'm', stable: 'v1', canary: 'v2', metrics: [{ kind: 'error_rate' }] });
  const [m0] = initMetrics(spec) as BinomialState[];
  // The rollout measured τ² = 0.08 over 10 blocks; stable's rate over the rollout 1%.
  const m = { ...m0!, stableTotal: { events: 1000, n: 100_000 }, dispersion: { ...EMPTY_DISPERSION, sumX1: 40, sumV: 500, blocks: 10, tau2: 0.08 } };
  let [b] = startBake([m]) as BinomialState[];
  assert.equal(b!.bake!.tau2Floor, 0.08);
  // Quiet bake windows (1% errors, no wander): after the burn-in every counted window keeps f at the floor.
  const fs: number[] = [];
  for (let i = 0; i < 60; i++) {
    b = foldBake(b!, input('r1', i * 10_000, (i + 1) * 10_000, arm(0, 0, []), arm(4000, 40, [])), { stepElapsedS: (i + 1) * 10, windowS: 10, blockS: 60, bake: true }) as BinomialState;
    if ((b.last!.bakeF ?? 0) > 0) fs.push(b.last!.bakeF!);
  }
  const w0 = b!.bake!.nullShare!;
  const atFloor = 1 / (1 + 0.08 * 4000 * w0 * (1 - w0) * 6);
  assert.ok(fs.length > 30, `${fs.length} windows counted`);
  for (const f of fs) assert.ok(f <= atFloor + 1e-12, `f ${f} above the floor's ${atFloor}`);
});
