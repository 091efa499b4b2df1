/**
 * Rate-like metrics on the conditional binomial test: error rate, the rate of one outcome, a custom
 * count, shadow disagreement, and custom values compared window by window (a sign test).
 */
import type { ResolvedMetric } from '../../rollout/spec.ts';
import type { AnalysisInput, ArmWindow } from '../input.ts';
import { nullShare } from '../stats/binomial-mixture.ts';
import { updateBinomial, type BinomialWindow } from './binomial.ts';
import type { BinomialState, FoldContext } from './types.ts';

type RateMetric = Extract<ResolvedMetric, { kind: 'error_rate' | 'outcome_rate' | 'custom_sql' }>;

function events(m: RateMetric, arm: ArmWindow): number | null {
  if (m.kind === 'error_rate') return arm.errors;
  if (m.kind === 'outcome_rate') return arm.outcomes[m.outcome] ?? 0;
  const v = arm.custom?.[m.name];
  return v === undefined ? null : Math.max(0, Math.round(v));
}

const rate = (k: number, n: number): number | null => (n > 0 ? k / n : null);

function rateEstimate(s: BinomialState, r0: number | null): Record<string, number | null> {
  const c = rate(s.step.canaryEvents, s.step.canaryN);
  const st = rate(s.step.stableEvents, s.step.stableN);
  // The canary/stable ratio a promotion now would rule out: the rollout-long ruleOut on the last
  // analysed step, the step's own `detect` alternative before it.
  const theta = s.ruleOut?.applies && s.ruleOut.theta !== null ? s.ruleOut.theta : (s.step.theta1 ?? s.theta1);
  const ruledOutRatio = r0 !== null ? r0 * Math.exp(s.side === 'up' ? theta : -theta) : null;
  return {
    canaryRate: c, stableRate: st, ratio: c !== null && st !== null && st > 0 ? c / st : null, canaryRequests: s.step.canaryN, stableRequests: s.step.stableN,
    ruledOutRatio, ruleOutLogLR: s.ruleOut?.llr ?? null, tau2: s.dispersion?.tau2 ?? null,
  };
}

/** Smallest odds ratio beyond tolerance an acceptance alternative may have (keeps the SPRT finite). */
const MIN_RULE_OUT_ODDS = 1.1;

/**
 * The ruleOut alternative of a window, θ_R = log(ruleOut / r0) (a rate with ruleOut; null without),
 * never closer to r0 than MIN_RULE_OUT_ODDS.
 */
export function ruleOutTheta(s: BinomialState, r0: number): number | null {
  const ruleOut = s.config.ruleOut;
  if (ruleOut === null || ruleOut === undefined) return null;
  const odds = Math.max(MIN_RULE_OUT_ODDS, s.side === 'up' ? ruleOut / r0 : r0 * ruleOut);
  return (s.side === 'up' ? 1 : -1) * Math.log(odds);
}

/**
 * Folds a window into a rate metric. The null ratio r0 = 1 + relative + absolute / stable rate
 * ("up"), or 1 − relative − absolute / stable rate ("down"), with stable's rate estimated from the
 * whole rollout so far (a plug-in, documented in docs/canary.md).
 */
export function foldRate(s: BinomialState, input: AnalysisInput, ctx: FoldContext): BinomialState {
  const m = s.config as RateMetric;
  const kC = events(m, input.canary);
  const kS = events(m, input.stable);
  const nC = input.canary.requests;
  const nS = input.stable.requests;
  if (kC === null || kS === null || Math.min(kC, nC) < 0 || kC > nC || kS > nS) {
    return updateBinomial(s, null, ctx, { canaryEvents: kC, stableEvents: kS, canaryN: nC, stableN: nS }, (st) => rateEstimate(st, null));
  }
  const stableTotal = { events: s.stableTotal.events + kS, n: s.stableTotal.n + nS };
  const pS = (stableTotal.events + 0.5) / (stableTotal.n + 1);
  const { relative, absolute } = m.tolerance;
  const r0 = s.side === 'up' ? 1 + relative + absolute / pS : 1 - relative - absolute / pS;
  const w = nC + nS > 0 ? nC / (nC + nS) : 0;
  const usable = nC > 0 && nS > 0 && r0 > 1e-3;
  const wTilde = usable ? nullShare(w, r0) : 0;
  const limit = s.side === 'up' ? (1 + relative) * pS + absolute : (1 - relative) * pS - absolute;
  const thetaR = ruleOutTheta(s, r0);
  const win: BinomialWindow = {
    k: usable ? kC : 0, m: usable ? kC + kS : 0, wTilde,
    canaryN: nC, stableN: nS, canaryEvents: kC, stableEvents: kS, nonInferiorityLimit: absolute > 0 ? limit : null,
    ...(thetaR !== null ? { ruleOutTheta: thetaR } : {}),
  };
  const next = updateBinomial({ ...s, stableTotal }, win, ctx, { canaryEvents: kC, stableEvents: kS, canaryN: nC, stableN: nS, r0: usable ? r0 : null, theta1: s.theta1, thetaR }, (st) => rateEstimate(st, r0));
  return next;
}

/**
 * Shadow agreement: each compared pair disagrees with probability d; the null is d ≤ tolerance, so
 * w̃ = tolerance and the "events" are disagreements (a one-sample sequential binomial test).
 */
export function foldShadow(s: BinomialState, input: AnalysisInput, ctx: FoldContext): BinomialState {
  const sh = input.canary.shadow;
  const estimate = (st: BinomialState) => ({
    disagreement: rate(st.step.canaryEvents, st.step.canaryN), tolerance: st.config.tolerance.absolute, compared: st.step.canaryN,
  });
  if (!sh || sh.compared === 0) return updateBinomial(s, null, ctx, { compared: 0, disagreed: 0 }, estimate);
  const d = sh.compared - sh.agreed;
  const win: BinomialWindow = {
    k: d, m: sh.compared, wTilde: s.config.tolerance.absolute,
    canaryN: sh.compared, stableN: 0, canaryEvents: d, stableEvents: 0, nonInferiorityLimit: null,
  };
  return updateBinomial(s, win, ctx, { compared: sh.compared, disagreed: d }, estimate);
}

/**
 * A custom value per arm and window, no variance known: a sequential sign test. A window counts as
 * "worse" when the canary's value is beyond stable's by more than the tolerance; with no regression
 * beyond tolerance a window is worse with probability at most 1/2, so w̃ = 1/2.
 */
export function foldCustomValue(s: BinomialState, input: AnalysisInput, ctx: FoldContext): BinomialState {
  const name = s.config.name;
  const c = input.canary.custom?.[name];
  const v = input.stable.custom?.[name];
  const estimate = (st: BinomialState) => ({ worseWindows: st.step.canaryEvents, windows: st.step.canaryN, lastCanary: c ?? null, lastStable: v ?? null });
  if (c === undefined || v === undefined) return updateBinomial(s, null, ctx, { canary: c ?? null, stable: v ?? null }, estimate);
  const { relative, absolute } = s.config.tolerance;
  const worse = s.config.direction === 'higher_is_worse' ? c > v * (1 + relative) + absolute : c < v * (1 - relative) - absolute;
  const k = worse ? 1 : 0;
  const win: BinomialWindow = { k, m: 1, wTilde: 0.5, canaryN: 1, stableN: 1, canaryEvents: k, stableEvents: 0, nonInferiorityLimit: null };
  return updateBinomial(s, win, ctx, { canary: c, stable: v, worse: k }, estimate);
}
