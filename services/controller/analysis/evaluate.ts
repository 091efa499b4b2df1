/**
 * The analysis entry points: build each metric's state from a spec (splitting the false-rollback
 * budget), fold a window into all of them, clear step statistics, and judge a state.
 *
 * Multiple testing: the rollout's alpha is split equally over its metrics (Bonferroni). Holm's
 * procedure would not help here: a rollback needs only one rejection, and Holm's first step is
 * Bonferroni's. Each metric's test is valid at every look (sequential), so the union over metrics
 * and looks stays within alpha.
 */
import type { ResolvedMetric, ResolvedRolloutSpec } from '../rollout/spec.ts';
import type { AnalysisInput } from './input.ts';
import { foldBake, judgeBake } from './metrics/bake.ts';
import { initBinomial, judgeBinomial, resetBinomialStep } from './metrics/binomial.ts';
import { foldDistribution, initDistribution, judgeDistribution, resetDistributionStep } from './metrics/distribution.ts';
import { foldLatencyExceedance, foldMannWhitney, initMannWhitney, judgeNormal } from './metrics/latency.ts';
import { foldCustomValue, foldRate, foldShadow } from './metrics/rates.ts';
import { restartWeights, type RestartWeights } from './metrics/restart.ts';
import type { FoldContext, MetricState, MetricVerdict } from './metrics/types.ts';

/** Share of alpha given to each metric. */
export function metricAlpha(spec: Pick<ResolvedRolloutSpec, 'alpha' | 'metrics'>): number {
  return spec.alpha / spec.metrics.length;
}

/**
 * Each metric's share of alpha (Bonferroni with weights, valid as long as the shares add up to at
 * most alpha): error-class rates count double, since errors are what a rollout is least allowed to ship.
 */
export function metricAlphas(spec: Pick<ResolvedRolloutSpec, 'alpha' | 'metrics'>): number[] {
  const w = spec.metrics.map((m) => (m.kind === 'error_rate' ? 2 : 1));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => (spec.alpha * x) / total);
}

function initMetric(m: ResolvedMetric, alpha: number, beta: number, mix: RestartWeights): MetricState {
  switch (m.kind) {
    case 'error_rate':
      return initBinomial(m, alpha, beta, 'up', mix);
    case 'outcome_rate':
      return initBinomial(m, alpha, beta, m.direction === 'higher_is_worse' ? 'up' : 'down', mix);
    case 'custom_sql':
      return initBinomial(m, alpha, beta, m.aggregate === 'count' && m.direction === 'lower_is_worse' ? 'down' : 'up', mix);
    case 'shadow_agreement':
      return initBinomial(m, alpha, beta, 'up', mix);
    case 'latency':
      return m.method === 'mann_whitney' ? initMannWhitney(m, alpha, beta, mix) : initBinomial(m, alpha, beta, 'up', mix);
    case 'score_shift':
    case 'label_mix':
      return initDistribution(m, alpha, beta);
  }
}

/** Fresh states for every metric of a rollout. */
export function initMetrics(spec: ResolvedRolloutSpec): MetricState[] {
  const alphas = metricAlphas(spec);
  const mix = restartWeights(0, analysedSteps(spec));
  return spec.metrics.map((m, i) => initMetric(m, alphas[i]!, 1 - spec.power, mix));
}

/** Steps with analysis: every step below 100%. */
export function analysedSteps(spec: Pick<ResolvedRolloutSpec, 'steps'>): number {
  return spec.steps.filter((s) => s.weight < 100).length;
}

function foldOne(s: MetricState, input: AnalysisInput, ctx: FoldContext): MetricState {
  if (s.test === 'normal') return foldMannWhitney(s, input, ctx);
  if (s.test === 'bounds') return foldDistribution(s, input, ctx);
  switch (s.config.kind) {
    case 'latency': return foldLatencyExceedance(s, input, ctx);
    case 'shadow_agreement': return foldShadow(s, input, ctx);
    case 'custom_sql': return s.config.aggregate === 'value' ? foldCustomValue(s, input, ctx) : foldRate(s, input, ctx);
    default: return foldRate(s, input, ctx);
  }
}

/** Metric kinds whose warm-up data is left out by default (warm-ups show in latency and scores). */
export const WARMUP_KINDS: ReadonlySet<ResolvedMetric['kind']> = new Set(['latency', 'score_shift']);

/**
 * Folds one window into every metric; the metrics `skip` names (warm-up) record an empty
 * contribution instead, so the chain of windows in the evidence still adds up. During the bake
 * (`ctx.bake`) the watched metrics fold into their one-sample test instead (metrics/bake.ts).
 */
export function foldMetrics(states: readonly MetricState[], input: AnalysisInput, ctx: FoldContext, skip?: (m: ResolvedMetric) => boolean): MetricState[] {
  return states.map((s) => (skip?.(s.config) ? skipped(s) : ctx.bake ? foldBake(s, input, ctx) : foldOne(s, input, ctx)));
}

function skipped(s: MetricState): MetricState {
  if (s.test === 'binomial') return { ...s, last: { warmup: 1, k: 0, m: 0, wTilde: null } };
  if (s.test === 'normal') return { ...s, last: { warmup: 1, ds: 0, dv: 0 } };
  return { ...s, last: { warmup: 1 } };
}

/**
 * Clears every metric's step statistics. `newStep` gives the index and count of analysed steps when
 * a new step starts (the rollback test's step martingale restarts); null on a resume (only the
 * acceptance statistics restart). The rollout-long statistics always stay.
 */
export function resetStep(states: readonly MetricState[], newStep: { index: number; analysed: number } | null): MetricState[] {
  const mix = newStep ? restartWeights(newStep.index, newStep.analysed) : null;
  return states.map((s) => {
    if (s.test === 'binomial') return resetBinomialStep(s, mix);
    if (s.test === 'bounds') return resetDistributionStep(s);
    const restart = mix ? { restart: { s: 0, v: 0 }, mix } : {};
    return { ...s, ...restart, step: { s: 0, v: 0, canaryN: 0 }, etaAcceptS: null };
  });
}

/** Re-derives a metric's verdict from its state alone. */
export function judge(s: MetricState): MetricVerdict {
  if (s.test === 'binomial' && s.bake) return judgeBake(s, s.bake);
  if (s.test === 'binomial') return judgeBinomial(s);
  if (s.test === 'normal') return judgeNormal(s);
  return judgeDistribution(s);
}
