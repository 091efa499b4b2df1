/**
 * The benchmark's fixed scenario set (the YAML files under docs/examples/scenarios, so that
 * `mlgate simulate --scenario <file>` reproduces the mlgate rows) and the baselines' settings,
 * derived from each scenario's stable arm the way an operator who knows the stable version would
 * set Flagger's fixed ranges.
 */
import { fileURLToPath } from 'node:url';
import { normalCdf } from '../../services/controller/analysis/stats/normal.ts';
import { ERROR_OUTCOMES } from '../../services/telemetry/error-outcomes.ts';
import { loadScenario, type Scenario } from '../../services/controller/sim/scenario.ts';
import type { FlaggerConfig } from './flagger.ts';
import type { KayentaConfig } from './kayenta.ts';

/** Scenario files, in table order, with the run count the benchmark uses. */
export const SCENARIOS: readonly { file: string; runs: number }[] = [
  { file: 'aa.yaml', runs: 1000 },
  { file: 'errors-1-to-2.yaml', runs: 300 },
  { file: 'latency-p95-25.yaml', runs: 300 },
  { file: 'severe-errors.yaml', runs: 300 },
  { file: 'low-traffic.yaml', runs: 300 },
];

/**
 * Scenario families of issue 16 (bench/canary/scenarios/): traffic shaped like real rollouts, one
 * family per class measured there (warm-ups, per-interval noise, small and tail-only regressions,
 * zero and rare error rates, low traffic, telemetry gaps), and a regression that starts after 100%
 * (caught by the bake).
 */
export const FAMILIES: readonly { file: string; runs: number }[] = [
  { file: 'aa-2000.yaml', runs: 300 },
  { file: 'warmup-30s-2x.yaml', runs: 300 },
  { file: 'warmup-20s-1.5x-version.yaml', runs: 200 },
  { file: 'noise-400.yaml', runs: 300 },
  { file: 'noise-2000.yaml', runs: 300 },
  { file: 'noise-both-20s.yaml', runs: 200 },
  { file: 'p99-only-40.yaml', runs: 200 },
  { file: 'errors-1-to-1.3.yaml', runs: 200 },
  { file: 'zero-errors.yaml', runs: 200 },
  { file: 'rare-errors.yaml', runs: 200 },
  { file: 'telemetry-gap.yaml', runs: 200 },
  { file: 'aa-2rps.yaml', runs: 100 },
  { file: 'leak-after-promotion.yaml', runs: 200 },
];

/** Loads one benchmark scenario (the fixed set's file name, or `families/<file>` for a family). */
export function loadBenchScenario(file: string): Scenario {
  if (file.startsWith('families/')) return loadScenario(fileURLToPath(new URL(`./scenarios/${file.slice('families/'.length)}`, import.meta.url)));
  return loadScenario(fileURLToPath(new URL(`../../docs/examples/scenarios/${file}`, import.meta.url)));
}

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
