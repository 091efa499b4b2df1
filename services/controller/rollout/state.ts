/**
 * The rollout's state: plain JSON, so the controller can persist it and resume after a restart.
 */
import { initMetrics } from '../analysis/evaluate.ts';
import type { MetricState } from '../analysis/metrics/types.ts';
import type { Phase, Routing } from './decision.ts';
import type { ResolvedRolloutSpec } from './spec.ts';

/** The state of one rollout. */
export interface RolloutState {
  readonly spec: ResolvedRolloutSpec;
  readonly phase: Phase;
  /** Index of the current step in spec.steps; -1 before the start. */
  readonly stepIndex: number;
  /** The canary's weight now (percent). */
  readonly weight: number;
  /** The canary's routing state: tripped after a rollback or an abort. */
  readonly canaryState: 'active' | 'tripped';
  readonly startedAt: number | null;
  readonly stepStartedAt: number | null;
  readonly finishedAt: number | null;
  /** End of the last analysed window (ms); the next window starts here. */
  readonly windowEnd: number | null;
  /** Decisions made so far. */
  readonly seq: number;
  /**
   * Requests each arm served in the current step (from the analysed windows); observedS: seconds of
   * windows after the warm-up in which the canary had traffic (what minDurationS counts);
   * warmupCanary: canary requests in the step's warm-up windows. (Both absent in older states.)
   */
  readonly stepCounts: Readonly<{ canary: number; stable: number; observedS?: number; warmupCanary?: number }>;
  /** End of the current step's warm-up (ms), or null (no warm-up, or a state from before warm-ups). */
  readonly warmupUntil?: number | null;
  /** Whether the last analysed window fell in the warm-up (shown in the evidence). */
  readonly lastWindowWarmup?: boolean;
  /**
   * When the bake at 100% started (ms), moved later by any time spent paused in it; null or
   * absent: not baking (yet).
   */
  readonly bakeStartedAt?: number | null;
  /** When the rollout was paused (ms); null or absent while it is not paused. */
  readonly pausedAt?: number | null;
  /** Each metric's running statistics. */
  readonly metrics: readonly MetricState[];
}

/** A new rollout, not started yet. */
export function createRollout(spec: ResolvedRolloutSpec): RolloutState {
  return {
    spec, phase: 'pending', stepIndex: -1, weight: 0, canaryState: 'active',
    startedAt: null, stepStartedAt: null, finishedAt: null, windowEnd: null, seq: 0,
    stepCounts: { canary: 0, stable: 0, observedS: 0, warmupCanary: 0 }, warmupUntil: null, bakeStartedAt: null, metrics: initMetrics(spec),
  };
}

/** True when the rollout is over (promoted, rolled back or aborted); a baking rollout is not over. */
export function isTerminal(state: Pick<RolloutState, 'phase'>): boolean {
  return state.phase === 'promoted' || state.phase === 'rolled_back' || state.phase === 'aborted';
}

/** The routing a state implies. */
export function routingOf(spec: ResolvedRolloutSpec, weight: number, canaryState: 'active' | 'tripped'): Routing {
  return {
    stable: { version: spec.stable, weight: 100 - weight },
    canary: { version: spec.canary, weight, state: canaryState },
    fallback: spec.fallback,
  };
}
