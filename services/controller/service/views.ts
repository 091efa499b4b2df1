/**
 * What the API shows of a rollout: the core's state flattened, the latest decision and an ETA.
 * Metric statistics stay out of it (they are in the decision's evidence in canary_decisions).
 */
import type { DecisionSummary, StoredRollout } from './decision-rows.ts';
import type { ResolvedRolloutSpec } from '../rollout/spec.ts';

/** One rollout as the API returns it. */
export interface RolloutView {
  readonly id: string;
  readonly model: string;
  readonly stable: string;
  readonly canary: string;
  readonly fallback: string | null;
  readonly phase: string;
  /** Canary weight in percent. */
  readonly weight: number;
  readonly canaryState: 'active' | 'tripped';
  /** Index of the current step (-1 before the start) and the step weights. */
  readonly stepIndex: number;
  readonly steps: readonly number[];
  readonly startedAt: number | null;
  readonly stepStartedAt: number | null;
  readonly finishedAt: number | null;
  /** Seconds in the current step (until the end for a finished rollout). */
  readonly stepElapsedS: number | null;
  /** Decisions so far. */
  readonly seq: number;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly source: 'api' | 'config';
  readonly latestDecision: DecisionSummary | null;
  /**
   * Estimated seconds until the next decision (promotion, rollback or the step's timeout), from
   * the latest decision's estimate minus the time since; null when not waiting.
   */
  readonly etaSeconds: number | null;
  /**
   * When the controller next evaluates the rollout (its next tick: the last tick plus
   * `tick.intervalS`; now when one is due), ms since the epoch; null when the rollout has ended, or
   * when this controller does not lead (a standby does not know the leader's ticks).
   */
  readonly nextTickAt: number | null;
  /**
   * When the current step times out (its start plus `maxDurationS`; `policy.onTimeout` then rolls
   * back or pauses), or while baking when the bake ends; ms since the epoch, null otherwise.
   */
  readonly stepDeadlineAt: number | null;
  readonly spec: ResolvedRolloutSpec;
}

/**
 * The view of a stored rollout at time `now`. `lastTickAt` is the leader's last tick of it (0: none
 * yet, so one is due); undefined when not known (a standby's view).
 */
export function viewOf(r: StoredRollout, now: number, lastTickAt?: number): RolloutView {
  const s = r.state;
  const last = r.summary.lastDecision;
  const waiting = (s.phase === 'progressing' || s.phase === 'paused' || s.phase === 'baking') && last !== null && last.etaSeconds !== null;
  const ended = s.phase === 'promoted' || s.phase === 'rolled_back' || s.phase === 'aborted';
  const step = s.spec.steps[s.stepIndex];
  return {
    id: s.spec.id, model: s.spec.model, stable: s.spec.stable, canary: s.spec.canary, fallback: s.spec.fallback,
    phase: s.phase, weight: s.weight, canaryState: s.canaryState, stepIndex: s.stepIndex, steps: s.spec.steps.map((x) => x.weight),
    startedAt: s.startedAt, stepStartedAt: s.stepStartedAt, finishedAt: s.finishedAt,
    stepElapsedS: s.stepStartedAt === null ? null : Math.max(0, ((s.finishedAt ?? now) - s.stepStartedAt) / 1000),
    seq: s.seq, createdAt: r.summary.createdAt, createdBy: r.summary.createdBy, source: r.summary.source,
    latestDecision: last,
    etaSeconds: waiting ? Math.max(0, Math.round(last.etaSeconds! - (now - last.at) / 1000)) : null,
    nextTickAt: ended || lastTickAt === undefined ? null : s.phase === 'pending' || lastTickAt === 0 ? now : Math.max(now, lastTickAt + s.spec.tick.intervalS * 1000),
    stepDeadlineAt: s.phase === 'baking' && s.bakeStartedAt != null ? s.bakeStartedAt + (s.spec.bake?.seconds ?? 0) * 1000
      : s.phase === 'progressing' && s.stepStartedAt !== null && step ? s.stepStartedAt + step.maxDurationS * 1000 : null,
    spec: s.spec,
  };
}

