/**
 * The bake: the watch after 100%. The canary then serves every request and the previous stable
 * none, so there is no concurrent arm to compare with; the canary is compared with stable's
 * baseline instead, fixed when the bake starts from what stable served during the rollout (the
 * same weeks-old version, measured minutes ago under the same traffic, side by side with the
 * canary). Each watched metric becomes a one-sample sequential test:
 *
 * - error_rate, outcome_rate: each canary request is an event with probability p; the null is
 *   p ≤ the tolerated rate (1 + relative)·p_B + absolute (p_B: stable's rate over the rollout plus
 *   two standard errors, since it is estimated; lower_is_worse mirrors it).
 * - latency (exceedance): each sampled canary latency, mapped by the tolerance as in latency.ts,
 *   exceeds T_B (stable's quantile q: the median of its per-window quantiles over the rollout) with
 *   probability at most 1 − q under the null.
 *
 * Both are the binomial mixture of binomial-mixture.ts with w̃ = the null probability (as the
 * shadow-agreement test does), so they may be looked at every window; the same over-dispersion
 * discount applies, estimated over the bake's blocks and shrunk toward the rollout's estimate;
 * the test counts windows only after BAKE_BURN_IN_BLOCKS blocks have given the bake its own
 * estimate (the martingale starts there, at a stopping time, so the guarantee holds). The martingale starts at 1 when the
 * bake starts, with the metric's own alpha: the rollout's and the bake's false-rollback budgets
 * add up (at most 2 × alpha over rollout and bake). Other metric kinds are not watched in the
 * bake (they need the stable arm's concurrent data).
 */
import { addBatch, logMixture } from '../stats/binomial-mixture.ts';
import type { AnalysisInput } from '../input.ts';
import { dispersionScale, EMPTY_DISPERSION, foldDispersion, tau2Prior } from './binomial.ts';
import { adjustLatencies, countAbove, oriented, QUANTILE } from './latency.ts';
import type { BakeState, BinomialState, FoldContext, MetricState, MetricVerdict } from './types.ts';

/**
 * Pearson X values the bake's own over-dispersion estimate needs before its test counts any window
 * (the first block only sets the centre, so with 60 s blocks the test starts after three minutes).
 * Before that the only estimate is the rollout's, taken on the canary's share of events rather than
 * on its rate; the bake's one-sample test at 100% traffic sees each block's wander in full. Trusting
 * the rollout's estimate from the first window rolled back 1% of healthy noisy canaries at 2000
 * requests/s; with one X, 6 of 600 once the rollout-long ruleOut let rollouts reach 100% on fewer
 * blocks (docs/canary.md, "The bake after 100%"); with two, 3 of 600.
 */
export const BAKE_BURN_IN_BLOCKS = 2;

/** True for the metrics the bake watches. */
export function watchedInBake(s: MetricState): s is BinomialState {
  if (s.test !== 'binomial') return false;
  return s.config.kind === 'error_rate' || s.config.kind === 'outcome_rate' || s.config.kind === 'latency';
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** The null probability of a watched metric from stable's baseline; null when it cannot be set. */
function baselineNull(s: BinomialState): { nullShare: number | null; threshold: number | null; baseline: number | null } {
  const { relative, absolute } = s.config.tolerance;
  if (s.config.kind === 'latency') {
    const qs = s.baseline?.quantiles ?? [];
    if (qs.length === 0) return { nullShare: null, threshold: null, baseline: null };
    return { nullShare: 1 - QUANTILE[s.config.quantile], threshold: median(qs), baseline: median(qs) };
  }
  const { events, n } = s.stableTotal;
  if (n === 0) return { nullShare: null, threshold: null, baseline: null };
  const p = (events + 0.5) / (n + 1);
  const se = Math.sqrt((p * (1 - p)) / (n + 1));
  const limit = s.side === 'up' ? (1 + relative) * (p + 2 * se) + absolute : (1 - relative) * (p - 2 * se) - absolute;
  return { nullShare: limit > 0 && limit < 1 ? limit : null, threshold: null, baseline: p };
}

/** Starts the bake on every watched metric: the baseline is fixed and a fresh martingale begins. */
export function startBake(states: readonly MetricState[]): MetricState[] {
  return states.map((s) => {
    if (!watchedInBake(s)) return s;
    const d = s.dispersion;
    const rolloutTau2 = d && d.sumV > 0 ? Math.max(0, d.sumX1 / d.sumV) : 0;
    const bake: BakeState = {
      ...baselineNull(s), tau2Prior: Math.max(tau2Prior(s), rolloutTau2), tau2Floor: rolloutTau2, logLik: s.prior.thetas.map(() => 0), dispersion: EMPTY_DISPERSION, k: 0, m: 0, canaryN: 0, canaryEvents: 0,
    };
    return { ...s, bake, etaRejectS: null, etaAcceptS: null };
  });
}

/** The window's one-sample counts of a watched metric: events k among m observations. */
function bakeCounts(s: BinomialState, bake: BakeState, input: AnalysisInput): { k: number; m: number; n: number; events: number } | null {
  const c = input.canary;
  if (s.config.kind === 'latency') {
    const sample = oriented(s.config, c);
    if (bake.threshold === null || sample.length === 0) return null;
    // The metric's own column, oriented as the baseline was (a lower_is_worse rate is negated).
    const y = adjustLatencies(s.config, sample).sort();
    const k = countAbove(y, bake.threshold);
    return { k, m: y.length, n: y.length, events: k };
  }
  const k = s.config.kind === 'error_rate' ? c.errors : s.config.kind === 'outcome_rate' ? c.outcomes[s.config.outcome] ?? 0 : null;
  if (k === null || c.requests === 0 || k < 0 || k > c.requests) return null;
  return { k, m: c.requests, n: c.requests, events: k };
}

/**
 * Folds one bake window into a metric: a watched metric's one-sample test advances, the rollout's
 * statistics stay as they were at 100% (the window adds nothing to them, which `last` records).
 */
export function foldBake(s: MetricState, input: AnalysisInput, ctx: FoldContext): MetricState {
  const none: Record<string, number | null> = s.test === 'binomial' ? { k: 0, m: 0, wTilde: null } : s.test === 'normal' ? { ds: 0, dv: 0 } : {};
  if (!watchedInBake(s) || !s.bake) return { ...s, last: { bake: 1, ...none } };
  const bake = s.bake;
  const c = bake.nullShare === null ? null : bakeCounts(s, bake, input);
  const blockS = ctx.blockS ?? 0;
  const windowS = ctx.windowS ?? 0;
  if (c === null || bake.nullShare === null) return { ...s, last: { bake: 1, ...none } };
  const w0 = bake.nullShare;
  // Burn-in: the first blocks only estimate the bake's over-dispersion (the test starts after them).
  const burnIn = blockS > 0 && windowS > 0 && bake.dispersion.blocks < BAKE_BURN_IN_BLOCKS;
  const f = burnIn ? 0 : dispersionScale(bake.dispersion, bake.tau2Prior, c.m, w0, windowS, blockS, bake.tau2Floor ?? 0);
  const next: BakeState = {
    ...bake,
    logLik: burnIn ? bake.logLik : addBatch(bake.logLik, s.prior, f * c.k, f * c.m, w0),
    dispersion: blockS > 0 && windowS > 0 ? foldDispersion(bake.dispersion, c.k, c.m, w0, windowS, blockS) : bake.dispersion,
    k: bake.k + c.k, m: bake.m + c.m, canaryN: bake.canaryN + c.n, canaryEvents: bake.canaryEvents + c.events,
  };
  return {
    ...s, bake: next,
    last: { bake: 1, ...none, bakeK: c.k, bakeM: c.m, bakeNull: w0, bakeF: f, tau2: next.dispersion.tau2 },
    estimate: { canaryRate: next.m > 0 ? next.k / next.m : null, baselineRate: s.config.kind === 'latency' ? 1 - QUANTILE[s.config.quantile] : bake.baseline, nullRate: w0, threshold: bake.threshold, canaryRequests: next.canaryN },
  };
}

/** The verdict of a watched metric during the bake: only a regression counts (nothing is accepted). */
export function judgeBake(s: BinomialState, bake: BakeState): MetricVerdict {
  const statistic = logMixture(bake.logLik, s.prior);
  const threshold = Math.log(1 / s.alpha);
  const base = { statistic, threshold, acceptStatistic: 0, acceptThreshold: Math.log(s.beta) };
  if (statistic >= threshold) {
    return { ...base, status: 'regressed', summary: `${s.config.name}: regression against stable's baseline during the bake (log X ${statistic.toFixed(2)} >= ${threshold.toFixed(2)})` };
  }
  if (bake.nullShare === null) return { ...base, status: 'no_data', summary: `${s.config.name}: no stable baseline to bake against` };
  return { ...base, status: 'inconclusive', summary: `${s.config.name}: baking, no regression against stable's baseline (log X ${statistic.toFixed(2)} < ${threshold.toFixed(2)})` };
}
