/**
 * A Kayenta-style rollout policy, written from Kayenta's NetflixACAJudge and MannWhitneyClassifier:
 * each step runs for `stepDurationS`, collecting one value per metric per `intervalS` for the canary
 * and for the baseline (stable, same time). At the end of the step each metric is classified by a
 * Mann-Whitney test on those per-interval values: High when the lower end of the Hodges-Lehmann
 * confidence interval (98%) exceeds tolerance × |estimate| (tolerance 0.25) and the canary's mean
 * is at least the baseline's. NaN values are removed; a metric with no values is Nodata and left
 * out. The score is 100 × passing / classified metrics (a failing critical metric scores 0):
 * at least `pass` (95) promotes, below `marginal` (75) fails and rolls back; between the two (or with
 * no classified metric at all) the step keeps collecting and is judged again at the next interval.
 */
import type { AnalysisInput, AnalysisWindow } from '../../analysis/input.ts';
import { orderStatistic } from '../../analysis/metrics/latency.ts';
import { hodgesLehmann } from '../../analysis/stats/mann-whitney.ts';
import type { PolicyStatus, SimPolicy } from '../policy.ts';
import { mean } from 'simple-statistics';

/** Kayenta's judgment settings used by the benchmark. */
export interface KayentaConfig {
  readonly intervalS: number;
  readonly stepDurationS: number;
  readonly stepWeights: readonly number[];
  /** Mann-Whitney confidence level (0.98 in NetflixACAJudge). */
  readonly confidence: number;
  /** Fraction of the Hodges-Lehmann estimate the interval must clear (0.25). */
  readonly tolerance: number;
  readonly pass: number;
  readonly marginal: number;
  /** Latency quantile compared per interval (0.95 = p95). */
  readonly latencyQuantile: number;
  readonly sampleSize: number;
}

type Series = { canary: number[]; stable: number[] };

/** Kayenta's classification of one metric: High (worse), Pass, or Nodata. */
export function classify(canary: readonly number[], stable: readonly number[], cfg: Pick<KayentaConfig, 'confidence' | 'tolerance'>): 'High' | 'Pass' | 'Nodata' {
  const c = canary.filter(Number.isFinite);
  const s = stable.filter(Number.isFinite);
  if (c.length === 0 || s.length === 0) return 'Nodata';
  if (new Set([...c, ...s]).size === 1) return 'Pass';
  const hl = hodgesLehmann(c, s, cfg.confidence);
  const bound = cfg.tolerance * Math.abs(hl.estimate);
  const ms = mean(s);
  const deviation = ms === 0 ? 1 : mean(c) / ms;
  return hl.lower > bound && deviation >= 1 ? 'High' : 'Pass';
}

/** Builds a Kayenta-style policy. */
export function kayentaPolicy(cfg: KayentaConfig): SimPolicy {
  let step = 0;
  let stepStart = 0;
  let last = 0;
  let errors: Series = { canary: [], stable: [] };
  let latency: Series = { canary: [], stable: [] };
  const record = (input: AnalysisInput) => {
    const rate = (e: number, n: number) => (n > 0 ? e / n : NaN);
    const q = (xs: readonly number[]) => (xs.length ? orderStatistic(Float64Array.from(xs).sort(), cfg.latencyQuantile) : NaN);
    errors.canary.push(rate(input.canary.errors, input.canary.requests));
    errors.stable.push(rate(input.stable.errors, input.stable.requests));
    latency.canary.push(q(input.canary.latencySample));
    latency.stable.push(q(input.stable.latencySample));
  };
  return {
    name: 'kayenta',
    intervalS: cfg.intervalS,
    sampleSize: cfg.sampleSize,
    start() {
      step = 0;
      stepStart = 0;
      last = 0;
      errors = { canary: [], stable: [] };
      latency = { canary: [], stable: [] };
      return cfg.stepWeights[0]!;
    },
    window(now): AnalysisWindow | null {
      return now > last ? { from: last, to: now } : null;
    },
    decide(input, now): { status: PolicyStatus; weight: number } {
      last = now;
      if (input) record(input);
      const weight = cfg.stepWeights[step]!;
      if (now - stepStart < cfg.stepDurationS * 1000) return { status: 'running', weight };
      const classes = [classify(errors.canary, errors.stable, cfg), classify(latency.canary, latency.stable, cfg)].filter((c) => c !== 'Nodata');
      if (classes.length === 0) return { status: 'running', weight };
      const score = (100 * classes.filter((c) => c === 'Pass').length) / classes.length;
      if (score < cfg.marginal) return { status: 'rolled_back', weight: 0 };
      if (score < cfg.pass) return { status: 'running', weight };
      if (step === cfg.stepWeights.length - 1) return { status: 'promoted', weight: 100 };
      step++;
      stepStart = now;
      errors = { canary: [], stable: [] };
      latency = { canary: [], stable: [] };
      return { status: 'running', weight: cfg.stepWeights[step]! };
    },
  };
}
