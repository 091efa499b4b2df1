/**
 * The one-sided normal-mixture sequential test (mSPRT, Robbins 1970; Johari et al. 2017) for a
 * running sum S of independent, approximately normal increments with known total variance V.
 * exp(λS − λ²V/2) is a martingale under "no drift" for every λ; mixing λ over a half-normal of scale
 * τ gives a closed form whose supremum over time exceeds 1/α with probability at most α.
 */
import { logNormalSf } from './normal.ts';

/**
 * log of the half-normal mixture martingale for the alternative "S drifts upwards":
 * log 2 − ½·log(1 + τ²V) + τ²S²/(2(1 + τ²V)) + log Φ(τS/√(1 + τ²V)).
 */
export function logOneSidedNormalMixture(s: number, v: number, tau: number): number {
  if (!(v >= 0) || !(tau > 0)) throw new RangeError('need V >= 0 and tau > 0');
  const d = 1 + tau * tau * v;
  const x = (tau * s) / Math.sqrt(d);
  return Math.LN2 - 0.5 * Math.log(d) + (x * x) / 2 + logNormalSf(-x);
}

/** log likelihood ratio of a drift θ1 against 0 for the normal sum: θ1·S − θ1²·V/2 (Wald's SPRT). */
export function normalLogLR(s: number, v: number, theta1: number): number {
  return theta1 * s - (theta1 * theta1 * v) / 2;
}
