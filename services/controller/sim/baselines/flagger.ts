/**
 * A Flagger-style rollout policy, written from Flagger's documentation and scheduler
 * (pkg/controller/scheduler.go, scheduler_metrics.go): every `interval` (60 s) each metric is one
 * number for the canary alone over the last interval, checked against a fixed range; nothing is
 * compared with the primary. A failed check increments a counter that never resets; the rollout
 * rolls back when it reaches `threshold` (5, as in the docs' examples). No data counts as a failed
 * check. A passing check advances the weight to the next step; a pass at the last step promotes.
 */
import type { AnalysisInput, AnalysisWindow } from '../../analysis/input.ts';
import { orderStatistic } from '../../analysis/metrics/latency.ts';
import type { PolicyStatus, SimPolicy } from '../policy.ts';

/** Flagger's analysis settings used by the benchmark. */
export interface FlaggerConfig {
  /** Seconds between checks (Flagger's `interval`). */
  readonly intervalS: number;
  /** Failed checks before a rollback (`threshold`). */
  readonly threshold: number;
  /** Canary weights (`stepWeights`); a pass at the last one promotes. */
  readonly stepWeights: readonly number[];
  /** request-success-rate thresholdRange.min, percent. */
  readonly minSuccessRate: number;
  /** request-duration thresholdRange.max: p99 latency bound, ms. */
  readonly maxP99Ms: number;
  /** Latency sample size per window. */
  readonly sampleSize: number;
}

/** Builds a Flagger-style policy. */
export function flaggerPolicy(cfg: FlaggerConfig): SimPolicy {
  let step = 0;
  let failed = 0;
  let last = 0;
  const checksPass = (input: AnalysisInput | null): boolean => {
    if (!input || input.canary.requests === 0 || input.canary.latencySample.length === 0) return false;
    const success = 100 * (1 - input.canary.errors / input.canary.requests);
    const p99 = orderStatistic(Float64Array.from(input.canary.latencySample).sort(), 0.99);
    return success >= cfg.minSuccessRate && p99 <= cfg.maxP99Ms;
  };
  return {
    name: 'flagger',
    intervalS: cfg.intervalS,
    sampleSize: cfg.sampleSize,
    start() {
      step = 0;
      failed = 0;
      last = 0;
      return cfg.stepWeights[0]!;
    },
    window(now): AnalysisWindow | null {
      return now > last ? { from: last, to: now } : null;
    },
    decide(input, now): { status: PolicyStatus; weight: number } {
      last = now;
      if (!checksPass(input)) {
        failed++;
        if (failed >= cfg.threshold) return { status: 'rolled_back', weight: 0 };
        return { status: 'running', weight: cfg.stepWeights[step]! };
      }
      if (step === cfg.stepWeights.length - 1) return { status: 'promoted', weight: 100 };
      step++;
      return { status: 'running', weight: cfg.stepWeights[step]! };
    },
  };
}
