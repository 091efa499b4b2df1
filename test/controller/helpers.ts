/** Deterministic inputs for the controller's unit tests. */
import type { AnalysisInput, ArmWindow } from '../../services/controller/analysis/input.ts';
import { normalQuantile } from '../../services/controller/analysis/stats/normal.ts';

/** n latencies at evenly spaced quantiles of a lognormal (median, sigma): the same "sample" every time. */
export function lognormalGrid(n: number, median: number, sigma: number): number[] {
  return Array.from({ length: n }, (_, i) => median * Math.exp(sigma * normalQuantile((i + 0.5) / n)));
}

/** One arm's window. */
export function arm(requests: number, errors: number, latencySample: number[], extra: Partial<ArmWindow> = {}): ArmWindow {
  return { requests, errors, outcomes: { ok: requests - errors, upstream_error: errors }, latencySample, ...extra };
}

/** A window with the given arms. */
export function input(rolloutId: string, from: number, to: number, stable: ArmWindow, canary: ArmWindow): AnalysisInput {
  return { rolloutId, window: { from, to }, stable, canary };
}
