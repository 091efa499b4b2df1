/**
 * The rollback test's restart mixture. A whole-rollout martingale accumulates the good evidence of
 * every earlier window, so a regression that appears late (say under the load of a 25% step) has to
 * pay that back before it shows. The test therefore bets on several starting points at once:
 *
 *     X = w_rollout·M(since the rollout started) + w_step·M(since the current step started)
 *         + Σ (weights of the steps not started yet)
 *
 * Each term is a nonnegative martingale that starts at 1 (a step's martingale is 1 until the step
 * starts; a step starts at a stopping time), the weights sum to at most 1, and the martingales of
 * steps already left are dropped (which only lowers X). X is thus bounded by a nonnegative
 * martingale started at 1, and Ville's inequality still gives P(X ever ≥ 1/α) ≤ α.
 */
import { logSumExp } from '../stats/normal.ts';

/** Share of the mixture given to the whole-rollout martingale; the rest is split over later steps. */
export const ROLLOUT_WEIGHT = 0.8;

/** Weights of the three parts of the restart mixture. */
export interface RestartWeights {
  /** Weight of the martingale started with the rollout. */
  readonly rollout: number;
  /** Weight of the martingale started with the current step (0 in the first step). */
  readonly step: number;
  /** Summed weight of the steps not started yet (their martingales are still 1). */
  readonly future: number;
}

/** The weights at step `stepIndex` of a rollout with `analysedSteps` steps below 100%. */
export function restartWeights(stepIndex: number, analysedSteps: number): RestartWeights {
  const later = Math.max(0, analysedSteps - 1);
  if (later === 0) return { rollout: 1, step: 0, future: 0 };
  const each = (1 - ROLLOUT_WEIGHT) / later;
  return { rollout: ROLLOUT_WEIGHT, step: stepIndex >= 1 ? each : 0, future: Math.max(0, later - Math.max(0, stepIndex)) * each };
}

/** log X from the logs of the rollout-long and the step-long martingales. */
export function logRestartMixture(logRollout: number, logStep: number, w: RestartWeights): number {
  const terms = [Math.log(w.rollout) + logRollout];
  if (w.step > 0) terms.push(Math.log(w.step) + logStep);
  if (w.future > 0) terms.push(Math.log(w.future));
  return logSumExp(terms);
}
