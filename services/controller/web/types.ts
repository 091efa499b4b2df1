/**
 * What the rollout page reads of a rollout: the fields of the controller's rollout view
 * (services/controller/views.ts) that it shows, as a structural type, so the page works with any
 * source that has them (the running controller's rollouts API, a test's list).
 */

/** One metric's verdict in the latest decision. */
export interface VerdictSnapshot {
  readonly name: string;
  /** regressed | accepted | inconclusive | no_data */
  readonly status: string;
  readonly critical: boolean;
  /** Rollback test statistic and its threshold. */
  readonly statistic: number;
  readonly threshold: number;
  /** Acceptance statistic (this step) and its threshold. */
  readonly acceptStatistic: number;
  readonly acceptThreshold: number;
  readonly summary: string;
}

/** The latest decision of a rollout. */
export interface DecisionSnapshot {
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly phase: string;
  readonly fromWeight: number;
  readonly toWeight: number;
  readonly reason: string;
  readonly etaSeconds: number | null;
  readonly verdicts: readonly VerdictSnapshot[];
  /** Each metric's estimates (rates, quantiles, distances, sample sizes) by metric name. */
  readonly estimates: Readonly<Record<string, Readonly<Record<string, number | null>>>>;
}

/** A metric of the rollout spec. */
export interface MetricSpecSnapshot {
  readonly name: string;
  readonly kind: string;
  readonly critical: boolean;
  readonly tolerance: Readonly<{ relative: number; absolute: number }>;
}

/** One rollout as the page shows it. */
export interface RolloutSnapshot {
  readonly id: string;
  readonly model: string;
  readonly stable: string;
  readonly canary: string;
  readonly phase: string;
  /** Canary weight in percent. */
  readonly weight: number;
  /** Index of the current step (-1 before the start) and the step weights. */
  readonly stepIndex: number;
  readonly steps: readonly number[];
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly stepElapsedS: number | null;
  readonly createdAt: number;
  readonly latestDecision: DecisionSnapshot | null;
  readonly etaSeconds: number | null;
  readonly spec: {
    readonly metrics: readonly MetricSpecSnapshot[];
    readonly steps: readonly Readonly<{ weight: number; minDurationS: number; minSamples: number; maxDurationS: number }>[];
  };
}

/** Where the page gets the rollouts (the controller's `rollouts` API has this method). */
export interface RolloutSource {
  list(): Promise<readonly RolloutSnapshot[]>;
}
