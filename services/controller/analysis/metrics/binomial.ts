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
import type { BinomialState, FoldContext, MetricVerdict } from './types.ts';

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
    estimate: {}, last: null, etaRejectS: null, etaAcceptS: null,
  };
}

function emptyStep(): BinomialState['step'] {
  return { k: 0, m: 0, llr1: 0, canaryN: 0, stableN: 0, canaryEvents: 0, stableEvents: 0, nonInferiorityLimit: null };
}

/**
 * The state with this step's acceptance statistics cleared. With `mix` (a new step started), the
 * rollback test's step martingale restarts too; without (a resume), it carries on.
 */
export function resetBinomialStep(s: BinomialState, mix: RestartWeights | null): BinomialState {
  const restart = mix ? { restart: { logLik: s.prior.thetas.map(() => 0) }, mix } : {};
  return { ...s, ...restart, step: emptyStep(), etaAcceptS: null };
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
}

/** Folds one window into the state and refreshes the ETAs. `last` and `estimate` are the caller's audit fields. */
export function updateBinomial(
  s: BinomialState, w: BinomialWindow | null, ctx: FoldContext,
  last: Record<string, number | null>, estimate: (st: BinomialState) => Record<string, number | null>,
): BinomialState {
  let next = s;
  const counted = w !== null && w.m > 0 && w.wTilde > 0 && w.wTilde < 1;
  if (counted) {
    next = {
      ...s,
      rollout: { k: s.rollout.k + w.k, m: s.rollout.m + w.m, logLik: addBatch(s.rollout.logLik, s.prior, w.k, w.m, w.wTilde) },
      restart: { logLik: addBatch(s.restart.logLik, s.prior, w.k, w.m, w.wTilde) },
      step: { ...s.step, k: s.step.k + w.k, m: s.step.m + w.m, llr1: s.step.llr1 + batchLogLR(s.theta1, w.k, w.m, w.wTilde) },
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
      },
    };
  }
  const withEta = { ...next, ...binomialEtas(next, w?.wTilde ?? null, ctx) };
  // k, m and wTilde are the window's exact contribution to the rollout statistics (see chainBreaks).
  const contribution = counted ? { k: w.k, m: w.m, wTilde: w.wTilde } : { k: 0, m: 0, wTilde: null };
  return { ...withEta, last: { ...last, ...contribution }, estimate: estimate(withEta) };
}

function binomialEtas(s: BinomialState, wTilde: number | null, ctx: FoldContext): { etaRejectS: number | null; etaAcceptS: number | null } {
  if (wTilde === null || !(wTilde > 0 && wTilde < 1) || s.step.m === 0 || !(ctx.stepElapsedS > 0)) return { etaRejectS: null, etaAcceptS: null };
  const p = s.step.k / s.step.m;
  const rate = s.step.m / ctx.stepElapsedS;
  const bound = Math.log(1 / s.alpha);
  const viaRollout = etaToReject(s.rollout.logLik, s.prior, bound - Math.log(s.mix.rollout), p, wTilde, rate);
  const viaStep = s.mix.step > 0 ? etaToReject(s.restart.logLik, s.prior, bound - Math.log(s.mix.step), p, wTilde, rate) : null;
  const etaRejectS = viaRollout === null ? viaStep : viaStep === null ? viaRollout : Math.min(viaRollout, viaStep);
  const g1 = driftPerEvent(s.theta1, p, wTilde);
  const etaAcceptS = g1 < 0 ? Math.max(0, (Math.log(s.beta) - s.step.llr1) / (g1 * rate)) : null;
  return { etaRejectS, etaAcceptS };
}

function nonInferior(s: BinomialState): boolean {
  const limit = s.step.nonInferiorityLimit;
  if (limit === null || s.step.canaryN === 0) return false;
  const ci = proportionCS(s.step.canaryEvents, s.step.canaryN, s.beta);
  return s.side === 'up' ? ci.upper <= limit : ci.lower >= limit;
}

/** The verdict: rollback test on the whole rollout, acceptance on this step. */
export function judgeBinomial(s: BinomialState): MetricVerdict {
  const statistic = logRestartMixture(logMixture(s.rollout.logLik, s.prior), logMixture(s.restart.logLik, s.prior), s.mix);
  const threshold = Math.log(1 / s.alpha);
  const acceptThreshold = Math.log(s.beta);
  const base = { statistic, threshold, acceptStatistic: s.step.llr1, acceptThreshold };
  if (statistic >= threshold) {
    return { ...base, status: 'regressed', summary: `${s.config.name}: regression beyond tolerance is significant (log X ${statistic.toFixed(2)} >= ${threshold.toFixed(2)})` };
  }
  if (s.step.llr1 <= acceptThreshold || nonInferior(s)) {
    return { ...base, status: 'accepted', summary: `${s.config.name}: no regression of ${s.config.detect}x tolerance (log LR ${s.step.llr1.toFixed(2)} <= ${acceptThreshold.toFixed(2)})` };
  }
  if (s.step.canaryN === 0) return { ...base, status: 'no_data', summary: `${s.config.name}: no canary data in this step yet` };
  return { ...base, status: 'inconclusive', summary: `${s.config.name}: not enough evidence yet (log X ${statistic.toFixed(2)}, log LR ${s.step.llr1.toFixed(2)})` };
}
