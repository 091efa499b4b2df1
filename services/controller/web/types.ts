/**
 * What the rollout page reads of a rollout: the fields of the controller's rollout view
 * (services/controller/service/views.ts) that it shows, as a structural type, so the page works with any
 * source that has them (the running controller's rollouts API, a test's list). The fields are
 * picked from the controller's own types, so the two cannot drift apart.
 */
import type { DecisionSummary } from '../service/decision-rows.ts';
import type { VerdictSummary } from '../rollout/decision.ts';
import type { RolloutView } from '../service/views.ts';

/** One metric's verdict in the latest decision (any status text). */
export type VerdictSnapshot = Omit<VerdictSummary, 'status'> & {
  /** regressed | accepted | inconclusive | no_data */
  readonly status: string;
};

/** The latest decision of a rollout: what the page shows of the controller's decision summary. */
export type DecisionSnapshot = Pick<DecisionSummary, 'decisionId' | 'seq' | 'at' | 'actor' | 'action' | 'phase' | 'fromWeight' | 'toWeight' | 'reason' | 'etaSeconds' | 'estimates'> & {
  readonly verdicts: readonly VerdictSnapshot[];
};

/** A metric of the rollout spec. */
export interface MetricSpecSnapshot {
  readonly name: string;
  readonly kind: string;
  readonly critical: boolean;
  readonly tolerance: Readonly<{ relative: number; absolute: number }>;
  /** Latency metrics: the column tested (latency_ms when absent) and which way is worse. */
  readonly field?: string;
  readonly direction?: string;
}

/** One rollout as the page shows it: fields of the controller's rollout view. */
export type RolloutSnapshot = Pick<RolloutView, 'id' | 'model' | 'stable' | 'canary' | 'phase' | 'weight' | 'stepIndex' | 'steps'
  | 'startedAt' | 'finishedAt' | 'stepElapsedS' | 'createdAt' | 'etaSeconds' | 'nextTickAt' | 'stepDeadlineAt'> & {
  readonly latestDecision: DecisionSnapshot | null;
  readonly spec: {
    readonly metrics: readonly MetricSpecSnapshot[];
    readonly steps: readonly Readonly<{ weight: number; minDurationS: number; minSamples: number; maxDurationS: number }>[];
    /** The bake after 100% (absent in specs from before the bake). */
    readonly bake?: Readonly<{ seconds: number }>;
  };
};

/** Where the page gets the rollouts (the controller's `rollouts` API has this method). */
export interface RolloutSource {
  list(): Promise<readonly RolloutSnapshot[]>;
}
