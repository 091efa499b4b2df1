/**
 * A decision and its evidence: what the controller writes to `canary_decisions`. Everything is
 * plain JSON. The evidence holds every number the rule looked at (window, step timing and sample
 * sizes, the policy, each metric's sufficient statistics, thresholds and alpha), so that
 * {@link ../rollout/recompute.ts recompute} re-derives the same action from it alone.
 */
import type { AnalysisWindow } from '../analysis/input.ts';
import type { MetricState, MetricStatus } from '../analysis/metrics/types.ts';
import type { DecisionActionName } from '../../ledger/decision-actions.ts';

/**
 * Rollout phases. baking: the canary serves 100% while the previous stable stays configured at
 * weight 0 and the analysis keeps watching (spec `bake`); a regression then rolls back.
 */
export const PHASES = ['pending', 'progressing', 'paused', 'baking', 'promoted', 'rolled_back', 'aborted'] as const;
/** A rollout phase. */
export type Phase = (typeof PHASES)[number];

/**
 * What a decision does. wait: hold the weight (not enough evidence, never a failure);
 * promote: next step; complete: the canary takes all traffic (promoted, or baking when the spec
 * has a bake); finish: the bake passed, promoted; rollback: canary weight 0 and tripped (the
 * previous stable back at 100%); pause: hold for a human; start/resume/abort: manual (or
 * first-tick) transitions.
 */
export type DecisionAction = DecisionActionName;

/** Manual operations. */
export type ManualOperation = 'start' | 'pause' | 'resume' | 'promote' | 'abort';

/** The routing the decision leaves in place (what the control topic carries for the model). */
export interface Routing {
  readonly stable: Readonly<{ version: string; weight: number }>;
  readonly canary: Readonly<{ version: string; weight: number; state: 'active' | 'tripped' }>;
  /** Version the gateway falls back to when a version's breaker is open; null when none. */
  readonly fallback: string | null;
}

/** One metric's verdict as shown in the evidence (re-derived by recompute, not trusted). */
export interface VerdictSummary {
  readonly name: string;
  readonly status: MetricStatus;
  readonly critical: boolean;
  readonly statistic: number;
  readonly threshold: number;
  readonly acceptStatistic: number;
  readonly acceptThreshold: number;
  readonly summary: string;
}

/** Per-arm counts of the analysed window. */
export interface WindowSummary {
  readonly requests: number;
  readonly errors: number;
  readonly latencySampled: number;
}

/** Everything the rule used. */
export interface Evidence {
  /** Evidence format version. */
  readonly v: 1;
  readonly rolloutId: string;
  /** Decision time (ms). */
  readonly at: number;
  /** Who decided: 'controller' or the operator named by the API. */
  readonly actor: string;
  /** The manual operation, or null for an analysis tick. */
  readonly manual: ManualOperation | null;
  /** Phase before the decision. */
  readonly phase: Phase;
  /** Step weights of the rollout. */
  readonly steps: readonly number[];
  /** Current step index before the decision (-1 when pending). */
  readonly stepIndex: number;
  /** Canary weight before the decision. */
  readonly weight: number;
  /** The analysed window, or null when there was none. */
  readonly window: AnalysisWindow | null;
  /** Both arms' counts in the window. */
  readonly input: Readonly<{ stable: WindowSummary; canary: WindowSummary }> | null;
  /** The step's gates and progress. */
  readonly step: Readonly<{
    startedAt: number | null;
    elapsedS: number;
    canaryRequests: number;
    stableRequests: number;
    minDurationS: number;
    minSamples: number;
    maxDurationS: number;
    /** Seconds of judged windows with canary traffic (minDurationS counts these); absent in older evidence: elapsedS. */
    observedS?: number;
    /** End of the step's warm-up (ms), and whether this decision's window was in it. */
    warmupUntil?: number | null;
    warmupWindow?: boolean;
  }>;
  /**
   * The bake after 100% (absent in evidence from before the bake existed: no bake): its length, when
   * it started (null: not started) and seconds since.
   */
  readonly bake?: Readonly<{ seconds: number; startedAt: number | null; elapsedS: number }>;
  /** Rollout-wide policy. */
  readonly policy: Readonly<{ alpha: number; power: number; onFailure: 'rollback' | 'pause'; onTimeout: 'pause' | 'rollback' }>;
  /** Each metric's state after the window: configuration, alpha, sufficient statistics. */
  readonly metrics: readonly MetricState[];
  /** Each metric's verdict, for readers. */
  readonly verdicts: readonly VerdictSummary[];
}

/** A decision of the controller or an operator. */
export interface Decision {
  readonly rolloutId: string;
  readonly model: string;
  /** Sequence number of the decision within the rollout (1, 2, ...). */
  readonly seq: number;
  /** Decision time (ms). */
  readonly at: number;
  readonly actor: string;
  readonly action: DecisionAction;
  /** Phase after the decision. */
  readonly phase: Phase;
  readonly fromWeight: number;
  readonly toWeight: number;
  readonly routing: Routing;
  readonly reason: string;
  /** When waiting: estimated seconds until a decision (promotion, rollback or the step's timeout). */
  readonly etaSeconds: number | null;
  readonly evidence: Evidence;
}
