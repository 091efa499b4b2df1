/**
 * The conditional binomial sequential test: the workhorse behind every rate-like metric.
 *
 * Framing (docs/canary.md: the analysis looks at the data again and again): in one analysis window the
 * canary served a share w of the requests. If the canary's event rate (errors, timeouts, slow
 * requests, ...) is r times stable's, then, given the total number m of events in the window, each
 * event is the canary's with probability p = w·r / (w·r + 1 − w): a binomial that needs no
 * baseline rate. The tolerance goes into the null: r0 = the largest ratio still acceptable, and
 * w̃ = p at r = r0. Writing θ = log((p/(1−p)) / (w̃/(1−w̃))) (the log odds ratio beyond the
 * tolerance), one window contributes to the log likelihood ratio of θ against 0
 *
 *     ℓ(θ) = θ·k − m·log(1 − w̃ + w̃·e^θ)        (k = the canary's events)
 *
 * exp(ℓ(θ)) summed over windows is a martingale when θ = 0 and a supermartingale when the truth
 * is on the null side (θ ≤ 0 for an "up" test), whatever w̃ does from window to window, as long as
 * it is fixed before the window's counts are seen. A fixed discrete mixture over θ > 0 keeps that
 * property, so by Ville's inequality P(sup_t M_t ≥ 1/α) ≤ α: the test may be looked at after every
 * window, forever, and its false-alarm rate stays at most α (Robbins 1970; Johari et al. 2017).
 */
import { logSumExp } from './normal.ts';

/** A discrete mixing distribution over θ (log odds ratio beyond the tolerance). */
export interface MixturePrior {
  /** Grid points θ_j; all > 0 for an "up" test, all < 0 for a "down" test. */
  readonly thetas: readonly number[];
  /** log of the weight of each grid point; the weights sum to 1. */
  readonly logWeights: readonly number[];
}

/** Default grid: odds ratios beyond tolerance the mixture bets on. */
export const DEFAULT_RATIOS: readonly number[] = Object.freeze([1.15, 1.3, 1.5, 1.75, 2, 2.5, 3.5, 5, 8, 16]);
/** Default weights of {@link DEFAULT_RATIOS}: most mass on the 1.3–3.5 range regressions live in. */
export const DEFAULT_RATIO_WEIGHTS: readonly number[] = Object.freeze([0.05, 0.1, 0.15, 0.15, 0.15, 0.12, 0.1, 0.08, 0.05, 0.05]);

/** Which side the alternative lies on: "up" = the canary has more events than the null allows. */
export type TestSide = 'up' | 'down';

/** Builds the mixture over the given odds ratios (> 1), mirrored to θ < 0 for a "down" test. */
export function oddsRatioPrior(side: TestSide, ratios: readonly number[] = DEFAULT_RATIOS, weights: readonly number[] = DEFAULT_RATIO_WEIGHTS): MixturePrior {
  if (ratios.length === 0 || ratios.length !== weights.length) throw new RangeError('ratios and weights must be non-empty and of equal length');
  if (ratios.some((r) => !(r > 1))) throw new RangeError('every ratio must be > 1');
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0) || weights.some((w) => !(w > 0))) throw new RangeError('weights must be positive');
  const sign = side === 'up' ? 1 : -1;
  return Object.freeze({
    thetas: Object.freeze(ratios.map((r) => sign * Math.log(r))),
    logWeights: Object.freeze(weights.map((w) => Math.log(w / total))),
  });
}

/** The null share w̃: the canary's expected share of events when its rate is exactly r0 × stable's. */
export function nullShare(canaryShare: number, r0: number): number {
  const a = canaryShare * r0;
  return a / (a + 1 - canaryShare);
}

/** log(1 − w̃ + w̃·e^θ), the per-event cumulant of the canary indicator. */
function cumulant(theta: number, wTilde: number): number {
  return Math.log1p(wTilde * Math.expm1(theta));
}

/** One window's log likelihood ratio at θ against θ = 0: θ·k − m·log(1 − w̃ + w̃e^θ). */
export function batchLogLR(theta: number, k: number, m: number, wTilde: number): number {
  if (m === 0) return 0;
  return theta * k - m * cumulant(theta, wTilde);
}

/** Adds one window to a per-grid-point log likelihood vector; returns a new vector. */
export function addBatch(logLik: readonly number[], prior: MixturePrior, k: number, m: number, wTilde: number): number[] {
  return prior.thetas.map((t, j) => logLik[j]! + batchLogLR(t, k, m, wTilde));
}

/** log M: the log of the mixture martingale, log Σ_j w_j·exp(ℓ_j). */
export function logMixture(logLik: readonly number[], prior: MixturePrior): number {
  return logSumExp(prior.thetas.map((_, j) => prior.logWeights[j]! + logLik[j]!));
}

/** Expected growth of the log LR at θ per event, when an event is the canary's with probability p. */
export function driftPerEvent(theta: number, p: number, wTilde: number): number {
  return p * theta - cumulant(theta, wTilde);
}

/**
 * Seconds until the mixture is expected to cross log(1/α), given the event rate (events/s) and the
 * estimated canary probability p; null when no grid point is drifting up.
 */
export function etaToReject(logLik: readonly number[], prior: MixturePrior, threshold: number, p: number, wTilde: number, eventsPerS: number): number | null {
  if (!(eventsPerS > 0)) return null;
  let best: number | null = null;
  prior.thetas.forEach((t, j) => {
    const g = driftPerEvent(t, p, wTilde);
    if (!(g > 0)) return;
    const need = threshold - prior.logWeights[j]! - logLik[j]!;
    const s = Math.max(0, need) / (g * eventsPerS);
    if (best === null || s < best) best = s;
  });
  return best;
}
