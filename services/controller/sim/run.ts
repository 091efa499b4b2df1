/**
 * Runs a scenario: many independent seeded rollouts of one policy over synthetic traffic, and the
 * summary the CLI and the benchmark print.
 */
import { quantile } from 'simple-statistics';
import { mlgatePolicy, type PolicyStatus, type SimPolicy } from './policy.ts';
import { createRng, seedFor } from './random.ts';
import type { Scenario } from './scenario.ts';
import { collectWindow, noiseSource, type WeightChange } from './traffic.ts';

/** How one simulated rollout ended. */
export interface RunResult {
  /** undecided: still running when the scenario's duration ran out. */
  readonly outcome: Exclude<PolicyStatus, 'running'> | 'undecided';
  /** Seconds from the start to the end (null when undecided). */
  readonly timeS: number | null;
  /** Decisions made. */
  readonly decisions: number;
  /** Seconds from the start until the canary first had 100% (null: never); a later rollback was in the bake. */
  readonly fullAtS: number | null;
}

/** Simulates one rollout with the given policy and seed. */
export function simulateRun(sc: Scenario, policy: SimPolicy, seed: number): RunResult {
  const rng = createRng(seed);
  const noise = noiseSource(seed);
  const weights: WeightChange[] = [{ at: 0, weight: policy.start() }];
  let decisions = 1;
  let fullAtS: number | null = weights[0]!.weight >= 100 ? 0 : null;
  for (let t = policy.intervalS; t <= sc.durationS + 1e-9; t += policy.intervalS) {
    const now = Math.round(t * 1000);
    const win = policy.window(now);
    const input = win ? collectWindow(sc, sc.rollout.id, win, weights, rng, policy.sampleSize, noise) : null;
    const r = policy.decide(input, now);
    decisions++;
    if (r.weight !== weights[weights.length - 1]!.weight) weights.push({ at: now, weight: r.weight });
    if (fullAtS === null && r.weight >= 100) fullAtS = t;
    if (r.status !== 'running') return { outcome: r.status, timeS: t, decisions, fullAtS };
  }
  return { outcome: 'undecided', timeS: null, decisions, fullAtS };
}

/** Median and 95th percentile of a list of seconds (null when empty). */
export interface TimeSummary {
  readonly median: number | null;
  readonly p95: number | null;
}

/** A scenario's results for one policy. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly policy: string;
  readonly expect: 'promote' | 'rollback' | null;
  readonly runs: number;
  readonly seed: number;
  readonly rollbacks: number;
  readonly promotions: number;
  readonly paused: number;
  readonly undecided: number;
  /** Fractions of runs (0–1). */
  readonly rollbackRate: number;
  readonly promotionRate: number;
  readonly timeToRollbackS: TimeSummary;
  /** Time to the end of the rollout over the promoted runs (with a bake: the bake's end). */
  readonly timeToPromoteS: TimeSummary;
  /** Time until the canary had 100% over the promoted runs (the promotion itself; equals timeToPromoteS without a bake). */
  readonly timeToFullS?: TimeSummary;
  /** Rollbacks after the canary had reached 100% (caught by the bake), and their time from reaching 100%. */
  readonly bakeRollbacks?: number;
  readonly bakeRollbackAfterS?: TimeSummary;
  readonly elapsedMs: number;
}

function times(xs: number[]): TimeSummary {
  return xs.length ? { median: quantile(xs, 0.5), p95: quantile(xs, 0.95) } : { median: null, p95: null };
}

/** Options of {@link runScenario}. */
export interface RunOptions {
  /** Overrides the scenario's runs. */
  readonly runs?: number;
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Builds the policy for each run (default: mlgate's state machine with the scenario's rollout). */
  readonly policy?: (sc: Scenario) => SimPolicy;
  /** Wall clock for elapsedMs (default Date.now); the only clock the simulator reads, outside the decisions. */
  readonly clock?: () => number;
}

/** Runs every seeded rollout of a scenario and summarises them. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): ScenarioResult {
  const runs = opts.runs ?? sc.runs;
  const seed = opts.seed ?? sc.seed;
  const make = opts.policy ?? ((s: Scenario) => mlgatePolicy(s.rollout));
  const clock = opts.clock ?? Date.now;
  const t0 = clock();
  const rb: number[] = [];
  const pr: number[] = [];
  const full: number[] = [];
  const bakeRb: number[] = [];
  let paused = 0;
  let undecided = 0;
  let name = 'mlgate';
  for (let i = 0; i < runs; i++) {
    const policy = make(sc);
    name = policy.name;
    const r = simulateRun(sc, policy, seedFor(seed, i));
    if (r.outcome === 'rolled_back') {
      rb.push(r.timeS!);
      if (r.fullAtS !== null) bakeRb.push(r.timeS! - r.fullAtS);
    } else if (r.outcome === 'promoted') {
      pr.push(r.timeS!);
      full.push(r.fullAtS ?? r.timeS!);
    }
    else if (r.outcome === 'paused') paused++;
    else undecided++;
  }
  return {
    scenario: sc.name, policy: name, expect: sc.expect, runs, seed,
    rollbacks: rb.length, promotions: pr.length, paused, undecided,
    rollbackRate: rb.length / runs, promotionRate: pr.length / runs,
    timeToRollbackS: times(rb), timeToPromoteS: times(pr), timeToFullS: times(full),
    bakeRollbacks: bakeRb.length, bakeRollbackAfterS: times(bakeRb), elapsedMs: clock() - t0,
  };
}

/** The 95% Wilson score interval of k successes in n. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.959964;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  // At k = 0 or k = n the bound is exactly 0 or 1 (rounding would leave 1e-16 off and exclude k/n).
  return [k === 0 ? 0 : Math.max(0, c - h), k === n ? 1 : Math.min(1, c + h)];
}
