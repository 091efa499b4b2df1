/**
 * Latency metrics. Two tests, both on the window's bounded latency samples, with the tolerance
 * applied by mapping every canary latency x to y = (x − absolute) / (1 + relative): "canary no
 * worse than stable beyond tolerance" then means "y no slower than stable".
 *
 * - exceedance (default): the quantile comparison. Pool stable's sample with the canary's y values,
 *   take the pooled q-quantile T, and count values above T in each arm. When y and stable latencies
 *   have the same distribution the pooled values are exchangeable, so given the m values above T,
 *   the canary's count is hypergeometric, which is less spread than the binomial with p = the
 *   canary's share of the pooled sample; the binomial mixture test therefore stays valid (Hoeffding
 *   1963). A canary whose q-quantile grew beyond tolerance puts more than its share above T.
 * - mann_whitney: per window, the Mann-Whitney estimate of P(Y > X) − 1/2 and its null variance;
 *   the inverse-variance weighted sum over windows is tested with the one-sided normal mixture.
 */
import type { ResolvedMetric } from '../../rollout/spec.ts';
import type { AnalysisInput, ArmWindow } from '../input.ts';
import { mannWhitney } from '../stats/mann-whitney.ts';
import { logOneSidedNormalMixture, normalLogLR } from '../stats/normal-mixture.ts';
import { updateBinomial } from './binomial.ts';
import { logRestartMixture, type RestartWeights } from './restart.ts';
import type { BinomialState, FoldContext, MetricVerdict, NormalState } from './types.ts';

type LatencyMetric = Extract<ResolvedMetric, { kind: 'latency' }>;

/** The probability of each latency quantile name. */
export const QUANTILE: Readonly<Record<LatencyMetric['quantile'], number>> = { p50: 0.5, p95: 0.95, p99: 0.99 };

/** The order statistic at quantile q of a sorted array (the ceil(q·n)-th smallest value). */
export function orderStatistic(sorted: Float64Array, q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Per-window stable quantiles the latency baseline keeps (the latest; 20 minutes at a 10 s tick). */
export const BASELINE_WINDOWS = 120;

/** Smallest stable sample whose q-quantile enters the latency baseline (5 values above it expected). */
export function baselineMinSample(q: number): number {
  return Math.ceil(5 / (1 - q));
}

/** Appends one window's stable quantile to a latency baseline (keeping the latest BASELINE_WINDOWS). */
export function addBaselineQuantile(quantiles: readonly number[] | undefined, x: number): number[] {
  const out = [...(quantiles ?? []), x];
  return out.length > BASELINE_WINDOWS ? out.slice(out.length - BASELINE_WINDOWS) : out;
}

/** Number of values strictly greater than t in a sorted array. */
export function countAbove(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

function merge(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! <= b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

/** The column a metric tests (states saved before `field` existed test latency_ms). */
const fieldOf = (m: LatencyMetric) => m.field ?? 'latency_ms';

/** The arm's sample of the metric's column, as measured. */
function rawSample(m: LatencyMetric, arm: ArmWindow): readonly number[] {
  const field = fieldOf(m);
  return field === 'latency_ms' ? arm.latencySample : arm.fieldSamples?.[field] ?? [];
}

/**
 * The tests below look for a canary that is higher than stable. A lower_is_worse column (an
 * output rate) is tested on its negated values: then its low tail is the one tested, so a p95
 * metric on output_tps tests the slowest 5% of streams.
 */
const sign = (m: LatencyMetric): number => (m.direction === 'lower_is_worse' ? -1 : 1);

/** The arm's sample of the metric's column oriented so that higher is worse (see {@link sign}). */
export function oriented(m: LatencyMetric, arm: ArmWindow): number[] {
  const s = sign(m);
  return s === 1 ? Array.from(rawSample(m, arm)) : rawSample(m, arm).map((x) => -x);
}

/** The quantile of the raw column that sits at the tested tail (the estimate shown to people). */
function windowQuantile(m: LatencyMetric, arm: ArmWindow, q: LatencyMetric['quantile']): number | null {
  if (fieldOf(m) === 'latency_ms') {
    const exact = arm.latencyQuantiles?.[q];
    if (exact !== undefined) return exact;
  }
  const sorted = Float64Array.from(rawSample(m, arm)).sort();
  return sorted.length ? orderStatistic(sorted, sign(m) === 1 ? QUANTILE[q] : 1 - QUANTILE[q]) : null;
}

/**
 * The canary's oriented values (see {@link oriented}) given the tolerance: the canary may be
 * `relative` and `absolute` worse. higher_is_worse: `(x − absolute) / (1 + relative)`;
 * lower_is_worse, where a raw value v is tolerated as `v · (1 + relative) + absolute` (a rate
 * may be 1 + relative times lower), that is `x · (1 + relative) − absolute` on x = −v.
 */
export function adjustLatencies(m: LatencyMetric, canary: readonly number[]): Float64Array {
  const { relative, absolute } = m.tolerance;
  if (sign(m) === 1) return Float64Array.from(canary, (x) => (x - absolute) / (1 + relative));
  return Float64Array.from(canary, (x) => x * (1 + relative) - absolute);
}

/** Folds a window into a latency metric tested by exceedances of the pooled quantile. */
export function foldLatencyExceedance(s: BinomialState, input: AnalysisInput, ctx: FoldContext): BinomialState {
  const m = s.config as LatencyMetric;
  const q = QUANTILE[m.quantile];
  const xs = Float64Array.from(oriented(m, input.stable)).sort();
  const xc = Float64Array.from(oriented(m, input.canary)).sort();
  const canaryQ = windowQuantile(m, input.canary, m.quantile);
  const stableQ = windowQuantile(m, input.stable, m.quantile);
  const estimate = (st: BinomialState) => ({
    canaryQuantile: canaryQ, stableQuantile: stableQ, ratio: canaryQ !== null && stableQ !== null && stableQ > 0 ? canaryQ / stableQ : null,
    canaryAboveShare: st.step.canaryN ? st.step.canaryEvents / st.step.canaryN : null,
    stableAboveShare: st.step.stableN ? st.step.stableEvents / st.step.stableN : null,
  });
  if (xs.length === 0 || xc.length === 0) return updateBinomial(s, null, ctx, { canarySampled: xc.length, stableSampled: xs.length }, estimate);
  const y = adjustLatencies(m, Array.from(xc));
  const pooled = merge(xs, y);
  const threshold = orderStatistic(pooled, q);
  const k = countAbove(y, threshold);
  const kS = countAbove(xs, threshold);
  const w = y.length / pooled.length;
  // Stable's quantile of this window (oriented), kept as the bake's baseline when the sample is large enough.
  const baseline = xs.length >= baselineMinSample(q) ? { baseline: { quantiles: addBaselineQuantile(s.baseline?.quantiles, orderStatistic(xs, q)) } } : {};
  return updateBinomial(
    { ...s, ...baseline },
    { k, m: k + kS, wTilde: w, canaryN: y.length, stableN: xs.length, canaryEvents: k, stableEvents: kS, nonInferiorityLimit: null },
    ctx,
    { threshold, canaryAbove: k, stableAbove: kS, canarySampled: y.length, stableSampled: xs.length },
    estimate,
  );
}

/** Acceptance alternative for Mann-Whitney: P(Y > X) − 1/2 = 0.04 × detect (0.08 by default). */
export function mannWhitneyTheta1(detect: number): number {
  return 0.04 * detect;
}

/** A fresh Mann-Whitney latency metric. */
export function initMannWhitney(config: LatencyMetric, alpha: number, beta: number, mix: RestartWeights): NormalState {
  const theta1 = mannWhitneyTheta1(config.detect);
  return {
    test: 'normal', config, alpha, beta, tau: theta1, theta1,
    rollout: { s: 0, v: 0 }, restart: { s: 0, v: 0 }, mix, step: { s: 0, v: 0, canaryN: 0 },
    estimate: {}, last: null, etaRejectS: null, etaAcceptS: null,
  };
}

/** Folds a window into a Mann-Whitney latency metric. */
export function foldMannWhitney(s: NormalState, input: AnalysisInput, ctx: FoldContext): NormalState {
  const m = s.config as LatencyMetric;
  const xs = oriented(m, input.stable);
  const xc = oriented(m, input.canary);
  if (xs.length === 0 || xc.length === 0) {
    return { ...s, last: { canarySampled: xc.length, stableSampled: xs.length, ds: 0, dv: 0 }, etaRejectS: null, etaAcceptS: null };
  }
  const y = Array.from(adjustLatencies(m, xc));
  const r = mannWhitney(y, xs);
  const nn = r.nx * r.ny;
  const effect = r.auc - 0.5;
  const variance = r.variance / (nn * nn);
  if (!(variance > 0)) return { ...s, last: { auc: r.auc, ds: 0, dv: 0 } };
  const rollout = { s: s.rollout.s + effect / variance, v: s.rollout.v + 1 / variance };
  const restart = { s: s.restart.s + effect / variance, v: s.restart.v + 1 / variance };
  const step = { s: s.step.s + effect / variance, v: s.step.v + 1 / variance, canaryN: s.step.canaryN + r.nx };
  const est = step.s / step.v;
  const perS = ctx.stepElapsedS > 0 ? step.v / ctx.stepElapsedS : 0;
  // Information grows linearly in time; solve the boundary crossing at the current effect estimate.
  const etaAcceptS = est < s.theta1 / 2 && perS > 0 ? Math.max(0, (Math.log(s.beta) - normalLogLR(step.s, step.v, s.theta1)) / ((s.theta1 * est - (s.theta1 * s.theta1) / 2) * perS)) : null;
  const etaRejectS = est > 0 && perS > 0 ? Math.max(0, (2 * Math.log(1 / s.alpha)) / (est * est * perS) - rollout.v / perS) : null;
  return {
    ...s, rollout, restart, step, etaRejectS, etaAcceptS,
    last: { auc: r.auc, z: r.z, canarySampled: r.nx, stableSampled: r.ny, ds: effect / variance, dv: 1 / variance },
    estimate: { aucExcess: est, canarySampled: step.canaryN },
  };
}

/** The verdict of a Mann-Whitney latency metric. */
export function judgeNormal(s: NormalState): MetricVerdict {
  const statistic = logRestartMixture(logOneSidedNormalMixture(s.rollout.s, s.rollout.v, s.tau), logOneSidedNormalMixture(s.restart.s, s.restart.v, s.tau), s.mix);
  const threshold = Math.log(1 / s.alpha);
  const acceptStatistic = normalLogLR(s.step.s, s.step.v, s.theta1);
  const acceptThreshold = Math.log(s.beta);
  const base = { statistic, threshold, acceptStatistic, acceptThreshold };
  if (statistic >= threshold) return { ...base, status: 'regressed', summary: `${s.config.name}: canary significantly slower beyond tolerance (log X ${statistic.toFixed(2)})` };
  if (acceptStatistic <= acceptThreshold) return { ...base, status: 'accepted', summary: `${s.config.name}: no shift of ${s.theta1.toFixed(2)} in P(canary > stable)` };
  if (s.step.canaryN === 0) return { ...base, status: 'no_data', summary: `${s.config.name}: no canary latencies in this step yet` };
  return { ...base, status: 'inconclusive', summary: `${s.config.name}: not enough evidence yet` };
}
