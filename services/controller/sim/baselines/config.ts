/**
 * The baselines' settings, derived from a scenario's stable arm the way an operator who knows the
 * stable version would set Flagger's fixed ranges (used by `mlgate simulate --baselines` and the
 * benchmark), and the three policies of a comparison run.
 */
import { normalCdf } from '../../analysis/stats/normal.ts';
import { ERROR_OUTCOMES } from '../../../telemetry/error-outcomes.ts';
import { mlgatePolicy, type SimPolicy } from '../policy.ts';
import type { Scenario } from '../scenario.ts';
import { flaggerPolicy, type FlaggerConfig } from './flagger.ts';
import { kayentaPolicy, type KayentaConfig } from './kayenta.ts';

/** The stable arm's latency quantile q at the start of the scenario (bisection on the mixture's CDF). */
export function stableQuantile(sc: Scenario, q: number): number {
  const comps = sc.periods[0]![1].latency;
  const cdf = (x: number) => comps.reduce((acc, c) => acc + c.weight * normalCdf((Math.log(x) - c.mu) / c.sigma), 0);
  let lo = 1e-6;
  let hi = 1e7;
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi);
    if (cdf(mid) < q) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(lo * hi);
}

/** The stable arm's error rate at the start of the scenario. */
export function stableErrorRate(sc: Scenario): number {
  const rates = sc.periods[0]![1].outcomeRates;
  return ERROR_OUTCOMES.reduce((a, o) => a + (rates[o as keyof typeof rates] ?? 0), 0);
}

/** Weights before full promotion (100 is the promotion itself). */
function stepWeights(sc: Scenario): number[] {
  return sc.rollout.steps.map((s) => s.weight).filter((w) => w < 100);
}

/**
 * Flagger settings: interval 60 s, threshold 5, success rate at least 100 × (1 − 1.5 × stable's
 * error rate) (98.5% for 1%), p99 at most 1.2 × stable's p99: headroom over the stable version's
 * normal values, as an operator would set a fixed range.
 */
export function flaggerConfig(sc: Scenario): FlaggerConfig {
  return {
    intervalS: 60, threshold: 5, stepWeights: stepWeights(sc),
    minSuccessRate: 100 * (1 - 1.5 * stableErrorRate(sc)), maxP99Ms: 1.2 * stableQuantile(sc, 0.99),
    sampleSize: sc.rollout.analysis.sampleSize,
  };
}

/** Kayenta settings: NetflixACAJudge's 98% / 0.25, pass 95, marginal 75; 10 one-minute intervals per step. */
export function kayentaConfig(sc: Scenario): KayentaConfig {
  return {
    intervalS: 60, stepDurationS: 600, stepWeights: stepWeights(sc), confidence: 0.98, tolerance: 0.25,
    pass: 95, marginal: 75, latencyQuantile: 0.95, sampleSize: sc.rollout.analysis.sampleSize,
  };
}

/** mlgate's policy and the two baselines over a scenario, in table order (each call makes a fresh policy). */
export function comparisonPolicies(sc: Scenario): readonly (() => SimPolicy)[] {
  return [
    () => mlgatePolicy(sc.rollout),
    () => flaggerPolicy(flaggerConfig(sc)),
    () => kayentaPolicy(kayentaConfig(sc)),
  ];
}
