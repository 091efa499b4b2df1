/**
 * Per-metric running state. The state is also the metric's evidence: it is plain JSON, carries its
 * own configuration, alpha, thresholds and sufficient statistics, so that `judge` (and so
 * `recompute`) can re-derive the verdict from it alone.
 */
import type { ResolvedMetric } from '../../rollout/spec.ts';
import type { TestSide } from '../stats/binomial-mixture.ts';
import type { RestartWeights } from './restart.ts';

/** What the analysis concluded about one metric on this tick. */
export type MetricStatus = 'regressed' | 'accepted' | 'inconclusive' | 'no_data';

/** A metric's verdict, derived from its state by `judge`. */
export interface MetricVerdict {
  /** regressed: a regression beyond tolerance is significant; accepted: the step may be promoted as far as this metric goes. */
  readonly status: MetricStatus;
  /** The test statistic against the rollback threshold (log scale for the sequential tests). */
  readonly statistic: number;
  /** The rollback threshold the statistic is compared with. */
  readonly threshold: number;
  /** The acceptance statistic (this step's data). */
  readonly acceptStatistic: number;
  /** The acceptance threshold. */
  readonly acceptThreshold: number;
  /** Human-readable one-liner. */
  readonly summary: string;
}

/** Fields every metric state has. */
export interface MetricStateBase {
  /** The metric's resolved configuration. */
  readonly config: ResolvedMetric;
  /** Share of the rollout's false-rollback budget given to this metric. */
  readonly alpha: number;
  /** Accepted chance of promoting a step despite a regression of `detect` × tolerance. */
  readonly beta: number;
  /** Estimates shown to people (rates, quantiles, ratios); null when not estimable. */
  readonly estimate: Readonly<Record<string, number | null>>;
  /** The last window's contribution (counts, thresholds), for the audit trail. */
  readonly last: Readonly<Record<string, number | null>> | null;
  /** Estimated seconds until this metric's rollback test fires at the current rates, when it is heading there. */
  readonly etaRejectS: number | null;
  /** Estimated seconds until this metric accepts the step at the current rates, when it is heading there. */
  readonly etaAcceptS: number | null;
}

/** A metric tested with the conditional binomial mixture (rates, latency exceedances, shadow disagreement, custom signs). */
export interface BinomialState extends MetricStateBase {
  readonly test: 'binomial';
  /** Side of the alternative on θ. */
  readonly side: TestSide;
  /** The mixture's grid θ_j and log weights. */
  readonly prior: { readonly thetas: readonly number[]; readonly logWeights: readonly number[] };
  /** The acceptance alternative θ1 (±log detect). */
  readonly theta1: number;
  /** Whole-rollout sufficient statistics for the rollback test. */
  readonly rollout: { readonly k: number; readonly m: number; readonly logLik: readonly number[] };
  /** The rollback test's martingale restarted when the current step began (see restart.ts). */
  readonly restart: { readonly logLik: readonly number[] };
  /** Weights of the restart mixture at the current step. */
  readonly mix: RestartWeights;
  /** This step's statistics for the acceptance test (also cleared when a paused rollout resumes). */
  readonly step: {
    readonly k: number;
    readonly m: number;
    /** Σ window log LR of θ1 against 0. */
    readonly llr1: number;
    /** Observations in the step (requests, sampled latencies, compared pairs, windows). */
    readonly canaryN: number;
    readonly stableN: number;
    /** The canary's events in the step and the non-inferiority limit for its rate, when the metric is a plain rate. */
    readonly canaryEvents: number;
    readonly stableEvents: number;
    readonly nonInferiorityLimit: number | null;
    /** The acceptance alternative of the last window (in states written before the rollout-long ruleOut: θ_R on the last step). */
    readonly theta1?: number;
    /** Σ m·w̃ over the step's counted windows (the null-expected canary events; centres the dispersion estimate). */
    readonly mw?: number;
  };
  /**
   * A rate with ruleOut: the acceptance test of the ruleOut ratio, summed over every counted window
   * of the rollout (all steps), each window at its own null share and r0. The last analysed step
   * accepts only when this and the step's own test (at `detect`) both accept. Absent in states
   * written before it existed, and for metrics without ruleOut.
   */
  readonly ruleOut?: {
    /** Σ window log LR of the ruleOut alternative against r0. */
    readonly llr: number;
    /** The last counted window's ruleOut alternative θ_R (null before the first). */
    readonly theta: number | null;
    /** True when the last fold was in the last analysed step, where the ruleOut gates acceptance. */
    readonly applies: boolean;
  };
  /** Rollout-long stable counts (the baseline rate behind an absolute tolerance). */
  readonly stableTotal: { readonly events: number; readonly n: number };
  /** Between-window variance estimate (over-dispersion); absent in states written before it existed. */
  readonly dispersion?: DispersionState;
  /** Latency exceedance: stable's per-window quantiles over the rollout, the bake's baseline (latest first-in-first-out). */
  readonly baseline?: { readonly quantiles: readonly number[] };
  /** The bake's one-sample test (see bake.ts); present from the start of the bake on. */
  readonly bake?: BakeState;
}

/** A watched metric's test during the bake: the canary alone against stable's baseline. */
export interface BakeState {
  /** The null probability of an event (tolerated rate, or 1 − q for latency); null: no baseline, not tested. */
  readonly nullShare: number | null;
  /** Latency: stable's baseline quantile T_B the canary's latencies are counted above; null for rates. */
  readonly threshold: number | null;
  /** Stable's baseline value (its rate, or T_B), for readers. */
  readonly baseline: number | null;
  /** The one-sample mixture's log likelihoods per grid point, since the bake started. */
  readonly logLik: readonly number[];
  /** Over-dispersion over the bake's blocks. */
  readonly dispersion: DispersionState;
  /**
   * The prior of the bake's between-block variance: the larger of the metric's default prior and
   * the rollout's estimate at the bake's start (the same version's noise, measured over the steps).
   */
  readonly tau2Prior: number;
  /**
   * The rollout's own estimate at the bake's start, below which the bake's estimate never goes (the
   * bake's first blocks alone would take the version's known wander for a regression); absent in
   * states written before it existed: 0.
   */
  readonly tau2Floor?: number;
  /** Events and observations counted so far (k of m), and the canary's requests (or samples) and events. */
  readonly k: number;
  readonly m: number;
  readonly canaryN: number;
  readonly canaryEvents: number;
}

/**
 * Over-dispersion: the canary's share of events wanders from block to block (pods, batches,
 * bursty clients) more than the binomial allows. Blocks of `analysis.dispersionBlockS` seconds are
 * the unit: each closed block gives Pearson's X = (k − E)² / V against the share predicted by the
 * blocks before it, and τ² = Σ(X − 1) / ΣV estimates the between-block variance of the share's log
 * odds (moment estimator; E[X] = 1 + V·τ² when the noise is shared within a block). Each window's
 * counts are then scaled by f = 1 / (1 + V_block·τ²), the quasi-likelihood correction (the
 * variance-inflation factor).
 */
export interface DispersionState {
  /** The open block: seconds, canary events, all events, Σ m·w̃. */
  readonly block: { readonly s: number; readonly k: number; readonly m: number; readonly mw: number };
  /** Canary events, all events and Σ m·w̃ of the closed blocks (the predictive centre of the next block). */
  readonly closed?: { readonly k: number; readonly m: number; readonly mw: number };
  /** Σ(X − 1) and ΣV over the closed blocks, and their number. */
  readonly sumX1: number;
  readonly sumV: number;
  readonly blocks: number;
  /** The current estimate (≥ 0), used for the windows after the block that set it. */
  readonly tau2: number;
}

/** A metric tested with the normal mixture on a running sum (Mann-Whitney on latency). */
export interface NormalState extends MetricStateBase {
  readonly test: 'normal';
  /** Scale of the half-normal mixing distribution. */
  readonly tau: number;
  /** Acceptance alternative (AUC excess). */
  readonly theta1: number;
  /** Inverse-variance weighted sum of per-window effects and its information (rollout). */
  readonly rollout: { readonly s: number; readonly v: number };
  /** The same since the current step began, for the restart mixture. */
  readonly restart: { readonly s: number; readonly v: number };
  /** Weights of the restart mixture at the current step. */
  readonly mix: RestartWeights;
  /** The same for this step's acceptance test (also cleared on resume). */
  readonly step: { readonly s: number; readonly v: number; readonly canaryN: number };
}

/** A metric judged from time-uniform confidence bounds on category shares (label mix, score shift). */
export interface BoundsState extends MetricStateBase {
  readonly test: 'bounds';
  /** share: largest label-share difference; ks: Kolmogorov-Smirnov distance; psi: population stability index. */
  readonly measure: 'share' | 'ks' | 'psi';
  /** Category names (labels) or null for score bins. */
  readonly categories: readonly string[] | null;
  /** Interior bin edges for scores (null until the first window fixes them). */
  readonly edges: readonly number[] | null;
  /** Number of slots the alpha is split over (fixed up front so Bonferroni stays valid). */
  readonly slots: number;
  readonly rollout: { readonly canary: readonly number[]; readonly stable: readonly number[] };
  readonly step: { readonly canary: readonly number[]; readonly stable: readonly number[] };
}

/** Any metric state. */
export type MetricState = BinomialState | NormalState | BoundsState;

/** Facts a fold needs besides the window. */
export interface FoldContext {
  /** Seconds since the current step started, at the end of this window. */
  readonly stepElapsedS: number;
  /** Length of this window (s); absent: dispersion is not estimated. */
  readonly windowS?: number;
  /** Dispersion block length (s); 0 or absent: off. */
  readonly blockS?: number;
  /** True in the last analysed step (before 100%), where a rate's ruleOut applies. */
  readonly finalStep?: boolean;
  /** True during the bake: watched metrics run their one-sample test against stable's baseline. */
  readonly bake?: boolean;
}
