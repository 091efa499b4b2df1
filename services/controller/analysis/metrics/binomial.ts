/**
 * Shared machinery of every metric tested with the conditional binomial mixture: initial state,
 * folding one window's (k, m, w̃), the verdict, and the ETA estimates.
 */
import type { ResolvedMetric } from '../../rollout/spec.ts';
import {
  addBatch, batchLogLR, driftPerEvent, etaToReject, logMixture, oddsRatioPrior, type TestSide,
} from '../stats/binomial-mixture.ts';
import { proportionCS } from '../stats/proportion-cs.ts';
import { logRestartMixture, type RestartWeights } from './restart.ts';
import type { BinomialState, DispersionState, FoldContext, MetricVerdict } from './types.ts';

/** A dispersion estimate with no blocks yet. */
export const EMPTY_DISPERSION: DispersionState = { block: { s: 0, k: 0, m: 0, mw: 0 }, closed: { k: 0, m: 0, mw: 0 }, sumX1: 0, sumV: 0, blocks: 0, tau2: 0 };

const logit = (p: number) => Math.log(p / (1 - p));
const expit = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Prior of the between-block variance, so early windows are not taken as independent: τ² =
 * tau2Prior counted as PRIOR_BLOCKS blocks, and never below tau2Prior·PRIOR_BLOCKS/(PRIOR_BLOCKS +
 * blocks) (a moment estimate from one or two blocks is below the truth more often than not).
 * Latency exceedances get the larger prior: a shift of the whole latency scale by 8% moves the log
 * odds of exceeding the p95 by about 2.2 × 0.08/σ (σ ≈ 0.56 for p95 = 2.5 × median), a standard
 * deviation of ~0.3 in the share's log odds, where the same relative wobble of an error rate moves it
 * by the wobble itself. Rates: 0.02 (a standard deviation of ~0.14 in the log odds). The prior
 * carries the first minute, before any block has closed, and matters most at high traffic, where a
 * block's binomial variance V is large and f = 1/(1 + V·τ²) leans on τ²: at 2000 requests/s with
 * errors wandering by σ 0.25 per minute, 0.005 let 3.7% of healthy canaries be rolled back in their
 * first two minutes at 5%.
 */
export const TAU2_PRIOR = Object.freeze({ rate: 0.02, latency: 0.03 });
export const PRIOR_BLOCKS = 2;

/** The prior τ² of a metric. */
export function tau2Prior(s: Pick<BinomialState, 'config'>): number {
  return s.config.kind === 'latency' ? TAU2_PRIOR.latency : TAU2_PRIOR.rate;
}

/**
 * The variance-inflation factor's inverse for one window: f = 1 / (1 + V_block·τ²), with V_block the
 * binomial variance a block of `blockS` seconds at this window's event rate would have (a window
 * longer than a block spans several independent blocks, and the same formula holds: V scales with
 * the length, the shared-noise part with its square). τ² is the blocks' estimate shrunk toward
 * TAU2_PRIOR with the weight of PRIOR_BLOCKS blocks of this V_block, and never below `floor` (the
 * bake's: the same version's wander measured over the rollout).
 */
export function dispersionScale(d: DispersionState, prior: number, m: number, wTilde: number, windowS: number, blockS: number, floor = 0): number {
  if (!(blockS > 0) || !(windowS > 0) || !(m > 0)) return 1;
  const vBlock = m * wTilde * (1 - wTilde) * (blockS / windowS);
  const shrunk = (d.sumX1 + PRIOR_BLOCKS * prior * vBlock) / (d.sumV + PRIOR_BLOCKS * vBlock);
  const tau2 = Math.max(shrunk, (prior * PRIOR_BLOCKS) / (PRIOR_BLOCKS + d.blocks), floor, 0);
  return 1 / (1 + tau2 * vBlock);
}

/** Closes the open block: Pearson's X against the share the closed blocks before it predict. */
export function closeBlock(d: DispersionState): DispersionState {
  const block = d.block;
  const closed = d.closed ?? { k: 0, m: 0, mw: 0 };
  let { sumX1, sumV, blocks } = d;
  if (block.m > 0 && closed.m > 0 && closed.mw > 0 && closed.mw < closed.m) {
    // The log odds shift of the canary's share against the null share, estimated from earlier blocks.
    const shift = logit((closed.k + 0.5) / (closed.m + 1)) - logit(closed.mw / closed.m);
    const wBar = Math.min(1 - 1e-9, Math.max(1e-9, block.mw / block.m));
    const p = expit(logit(wBar) + shift);
    const v = block.m * p * (1 - p);
    if (v > 0) {
      sumX1 += (block.k - block.m * p) ** 2 / v - 1;
      sumV += v;
      blocks += 1;
    }
  }
  return {
    block: { s: 0, k: 0, m: 0, mw: 0 },
    closed: { k: closed.k + block.k, m: closed.m + block.m, mw: closed.mw + block.mw },
    sumX1, sumV, blocks, tau2: sumV > 0 ? Math.max(0, sumX1 / sumV) : 0,
  };
}

/** Adds a window to the open dispersion block and closes the block when it reaches blockS. */
export function foldDispersion(d: DispersionState, k: number, m: number, wTilde: number, windowS: number, blockS: number): DispersionState {
  const block = { s: d.block.s + windowS, k: d.block.k + k, m: d.block.m + m, mw: d.block.mw + m * wTilde };
  const next = { ...d, block };
  return block.s + 1e-9 < blockS ? next : closeBlock(next);
}

/** A fresh binomial-tested metric. */
export function initBinomial(config: ResolvedMetric, alpha: number, beta: number, side: TestSide, mix: RestartWeights): BinomialState {
  const prior = oddsRatioPrior(side);
  return {
    test: 'binomial', config, alpha, beta, side,
    prior: { thetas: [...prior.thetas], logWeights: [...prior.logWeights] },
    theta1: (side === 'up' ? 1 : -1) * Math.log(config.detect),
    rollout: { k: 0, m: 0, logLik: prior.thetas.map(() => 0) },
    restart: { logLik: prior.thetas.map(() => 0) }, mix,
    step: emptyStep(),
    stableTotal: { events: 0, n: 0 },
    dispersion: EMPTY_DISPERSION,
    estimate: {}, last: null, etaRejectS: null, etaAcceptS: null,
  };
}

function emptyStep(): BinomialState['step'] {
  return { k: 0, m: 0, llr1: 0, canaryN: 0, stableN: 0, canaryEvents: 0, stableEvents: 0, nonInferiorityLimit: null, mw: 0 };
}

/**
 * The state with this step's acceptance statistics cleared. With `mix` (a new step started), the
 * rollback test's step martingale restarts too; without (a resume), it carries on.
 */
export function resetBinomialStep(s: BinomialState, mix: RestartWeights | null): BinomialState {
  const restart = mix ? { restart: { logLik: s.prior.thetas.map(() => 0) }, mix } : {};
  // The open dispersion block closes early: a block does not span two weights.
  const dispersion = s.dispersion && mix ? { dispersion: closeBlock(s.dispersion) } : {};
  return { ...s, ...restart, ...dispersion, step: emptyStep(), etaAcceptS: null };
}

/** One window's contribution to a binomial-tested metric. */
export interface BinomialWindow {
  /** The canary's events among the m events of the window. */
  readonly k: number;
  readonly m: number;
  /** The canary's null share of events. */
  readonly wTilde: number;
  /** Observations behind the events in each arm, and the events themselves. */
  readonly canaryN: number;
  readonly stableN: number;
  readonly canaryEvents: number;
  readonly stableEvents: number;
  /** Non-inferiority limit for the canary's rate (plain rates only). */
  readonly nonInferiorityLimit?: number | null;
  /** This window's acceptance alternative, when it is not the metric's θ1. */
  readonly theta1?: number;
  /** A rate with ruleOut: this window's ruleOut alternative θ_R, added to the rollout-long ruleOut test. */
  readonly ruleOutTheta?: number;
}

/** Folds one window into the state and refreshes the ETAs. `last` and `estimate` are the caller's audit fields. */
export function updateBinomial(
  s: BinomialState, w: BinomialWindow | null, ctx: FoldContext,
  last: Record<string, number | null>, estimate: (st: BinomialState) => Record<string, number | null>,
): BinomialState {
  let next = s;
  const counted = w !== null && w.m > 0 && w.wTilde > 0 && w.wTilde < 1;
  const blockS = ctx.blockS ?? 0;
  const windowS = ctx.windowS ?? 0;
  // f is fixed by the blocks closed before this window (the estimate does not look at the window).
  const f = counted && s.dispersion ? dispersionScale(s.dispersion, tau2Prior(s), w.m, w.wTilde, windowS, blockS) : 1;
  const theta1 = w?.theta1 ?? s.theta1;
  if (counted) {
    next = {
      ...s,
      rollout: { k: s.rollout.k + w.k, m: s.rollout.m + w.m, logLik: addBatch(s.rollout.logLik, s.prior, f * w.k, f * w.m, w.wTilde) },
      restart: { logLik: addBatch(s.restart.logLik, s.prior, f * w.k, f * w.m, w.wTilde) },
      step: {
        ...s.step, k: s.step.k + w.k, m: s.step.m + w.m, mw: (s.step.mw ?? 0) + w.m * w.wTilde,
        llr1: s.step.llr1 + batchLogLR(theta1, f * w.k, f * w.m, w.wTilde),
      },
    };
  }
  if (s.config.ruleOut !== null && s.config.ruleOut !== undefined) {
    const r = s.ruleOut ?? { llr: 0, theta: null, applies: false };
    const add = counted && w.ruleOutTheta !== undefined;
    next = {
      ...next,
      ruleOut: {
        llr: add ? r.llr + batchLogLR(w.ruleOutTheta!, f * w.k, f * w.m, w.wTilde) : r.llr,
        theta: add ? w.ruleOutTheta! : r.theta,
        applies: ctx.finalStep === true,
      },
    };
  }
  if (w) {
    next = {
      ...next,
      step: {
        ...next.step,
        canaryN: next.step.canaryN + w.canaryN, stableN: next.step.stableN + w.stableN,
        canaryEvents: next.step.canaryEvents + w.canaryEvents, stableEvents: next.step.stableEvents + w.stableEvents,
        nonInferiorityLimit: w.nonInferiorityLimit === undefined ? next.step.nonInferiorityLimit : w.nonInferiorityLimit,
        theta1,
      },
    };
  }
  if (next.dispersion && blockS > 0 && windowS > 0) {
    next = { ...next, dispersion: foldDispersion(next.dispersion, counted ? w.k : 0, counted ? w.m : 0, counted ? w.wTilde : 0, windowS, blockS) };
  }
  const withEta = { ...next, ...binomialEtas(next, w?.wTilde ?? null, ctx) };
  // k, m and wTilde are the window's exact contribution to the rollout statistics (see chainBreaks);
  // the statistics add f·k and f·m (f = 1 without over-dispersion).
  const contribution = counted ? { k: w.k, m: w.m, wTilde: w.wTilde, f } : { k: 0, m: 0, wTilde: null, f: null };
  return { ...withEta, last: { ...last, ...contribution, tau2: next.dispersion?.tau2 ?? null }, estimate: estimate(withEta) };
}

function binomialEtas(s: BinomialState, wTilde: number | null, ctx: FoldContext): { etaRejectS: number | null; etaAcceptS: number | null } {
  if (wTilde === null || !(wTilde > 0 && wTilde < 1) || s.step.m === 0 || !(ctx.stepElapsedS > 0)) return { etaRejectS: null, etaAcceptS: null };
  const p = s.step.k / s.step.m;
  const rate = s.step.m / ctx.stepElapsedS;
  const bound = Math.log(1 / s.alpha);
  const viaRollout = etaToReject(s.rollout.logLik, s.prior, bound - Math.log(s.mix.rollout), p, wTilde, rate);
  const viaStep = s.mix.step > 0 ? etaToReject(s.restart.logLik, s.prior, bound - Math.log(s.mix.step), p, wTilde, rate) : null;
  const etaRejectS = viaRollout === null ? viaStep : viaStep === null ? viaRollout : Math.min(viaRollout, viaStep);
  const etaTo = (theta: number, llr: number): number | null => {
    const g = driftPerEvent(theta, p, wTilde);
    return g < 0 ? Math.max(0, (Math.log(s.beta) - llr) / (g * rate)) : null;
  };
  let etaAcceptS = etaTo(s.step.theta1 ?? s.theta1, s.step.llr1);
  // On the last analysed step acceptance also waits for the rollout-long ruleOut test.
  const r = s.ruleOut;
  if (r?.applies && r.theta !== null && etaAcceptS !== null) {
    const viaRuleOut = etaTo(r.theta, r.llr);
    etaAcceptS = viaRuleOut === null ? null : Math.max(etaAcceptS, viaRuleOut);
  }
  return { etaRejectS, etaAcceptS };
}

function nonInferior(s: BinomialState): boolean {
  const limit = s.step.nonInferiorityLimit;
  if (limit === null || s.step.canaryN === 0) return false;
  const ci = proportionCS(s.step.canaryEvents, s.step.canaryN, s.beta);
  return s.side === 'up' ? ci.upper <= limit : ci.lower >= limit;
}

/**
 * The verdict: rollback test on the whole rollout, acceptance on this step. On the last analysed
 * step of a rate with ruleOut, acceptance also needs the rollout-long ruleOut test to accept.
 */
export function judgeBinomial(s: BinomialState): MetricVerdict {
  const statistic = logRestartMixture(logMixture(s.rollout.logLik, s.prior), logMixture(s.restart.logLik, s.prior), s.mix);
  const threshold = Math.log(1 / s.alpha);
  const acceptThreshold = Math.log(s.beta);
  const r = s.ruleOut?.applies ? s.ruleOut : null;
  const acceptStatistic = r ? Math.max(s.step.llr1, r.llr) : s.step.llr1;
  const base = { statistic, threshold, acceptStatistic, acceptThreshold };
  if (statistic >= threshold) {
    return { ...base, status: 'regressed', summary: `${s.config.name}: regression beyond tolerance is significant (log X ${statistic.toFixed(2)} >= ${threshold.toFixed(2)})` };
  }
  if (acceptStatistic <= acceptThreshold || nonInferior(s)) {
    const ruled = Math.exp(Math.abs(s.step.theta1 ?? s.theta1));
    let how: string;
    if (acceptStatistic > acceptThreshold) {
      how = `the canary's rate is within tolerance (time-uniform bound under ${s.step.nonInferiorityLimit?.toPrecision(3)})`;
    } else {
      how = `no regression of ${ruled.toFixed(2)}x beyond tolerance (odds; log LR ${s.step.llr1.toFixed(2)} <= ${acceptThreshold.toFixed(2)})`;
      if (r) how += `, and over the rollout none of ${s.config.ruleOut}x stable's rate (log LR ${r.llr.toFixed(2)})`;
    }
    return { ...base, status: 'accepted', summary: `${s.config.name}: ${how}` };
  }
  if (s.step.canaryN === 0) return { ...base, status: 'no_data', summary: `${s.config.name}: no canary data in this step yet` };
  const ruleOutPart = r ? `, ruleOut log LR ${r.llr.toFixed(2)}` : '';
  return { ...base, status: 'inconclusive', summary: `${s.config.name}: not enough evidence yet (log X ${statistic.toFixed(2)}, log LR ${s.step.llr1.toFixed(2)}${ruleOutPart})` };
}
