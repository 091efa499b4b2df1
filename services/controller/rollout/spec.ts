/**
 * The rollout spec, as written in YAML or sent to the controller's API, and its resolved form
 * (every default filled in). All defaults live in {@link DEFAULTS} and {@link DEFAULT_TOLERANCE}.
 * A spec with only id, model, stable and canary is valid: steps 5, 10, 25, 50, 100 gated by the
 * error rate and p95 latency.
 */
import { z } from 'zod';
import { formatIssues } from '../../core/config.ts';
import { OUTCOMES, type Outcome } from '../../telemetry/event.ts';
import { ControllerErrors } from '../errors.ts';

/** Every default of a rollout, in one place. */
export const DEFAULTS = Object.freeze({
  steps: Object.freeze([5, 10, 25, 50, 100]),
  minDurationS: 60,
  minSamples: 500,
  maxDurationS: 1800,
  tickIntervalS: 10,
  tickLagS: 5,
  alpha: 0.01,
  power: 0.9,
  onFailure: 'rollback' as const,
  onTimeout: 'pause' as const,
  sampleSize: 1000,
  detect: 2,
  labelMaxLabels: 10,
  scoreBins: 10,
  /** Warm-up excluded from latency/score judgement after the canary gets traffic or changes weight (s). */
  warmupS: 30,
  warmupRequests: 0,
  /** Block over which between-window (over-dispersion) variance is estimated (s); 0 turns it off. */
  dispersionBlockS: 60,
  /** Canary/stable rate ratio the last analysed step must rule out for error rates (see docs/canary.md). */
  errorRuleOut: 1.25,
  /** Seconds the rollout bakes at 100% (previous stable kept ready at weight 0) before it is promoted; 0: no bake. */
  bakeS: 600,
});

/** Metric kinds the analysis knows. */
export const METRIC_KINDS = ['error_rate', 'outcome_rate', 'latency', 'score_shift', 'label_mix', 'shadow_agreement', 'custom_sql'] as const;
/** A metric kind. */
export type MetricKind = (typeof METRIC_KINDS)[number];

/** Default tolerance per kind (relative: fraction of stable's value; absolute: in the metric's unit). */
export const DEFAULT_TOLERANCE: Readonly<Record<MetricKind, Readonly<{ relative: number; absolute: number }>>> = Object.freeze({
  // The absolute floor lets a zero or rare base rate be accepted (a relative tolerance of 0 is 0).
  error_rate: { relative: 0.05, absolute: 0.0005 },
  outcome_rate: { relative: 0.1, absolute: 0.0005 },
  latency: { relative: 0.05, absolute: 0 },
  score_shift: { relative: 0, absolute: 0.1 },
  label_mix: { relative: 0, absolute: 0.05 },
  shadow_agreement: { relative: 0, absolute: 0.05 },
  custom_sql: { relative: 0.1, absolute: 0 },
});

const Direction = z.enum(['higher_is_worse', 'lower_is_worse']);

/**
 * The `requests` columns a latency metric may test: the request's latency (the default) and the
 * token timing of LLM streams (docs/llm.md, "Token timing"), where only rows that have the value
 * count. `output_tps` is a rate: lower is worse by default.
 */
export const LATENCY_FIELDS = ['latency_ms', 'ttft_ms', 'itl_mean_ms', 'itl_p95_ms', 'output_tps'] as const;
/** A column a latency metric tests. */
export type LatencyField = (typeof LATENCY_FIELDS)[number];
const Tolerance = z.strictObject({
  relative: z.number().min(0).max(10).optional(),
  absolute: z.number().min(0).optional(),
});
const common = {
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'expected 1-100 letters, digits, _ . : -').optional(),
  critical: z.boolean().optional(),
  tolerance: Tolerance.optional(),
  detect: z.number().gt(1).max(100).optional(),
  /** Rates only: the canary/stable ratio the last analysed step must rule out before 100%. */
  ruleOut: z.number().gt(1).max(100).optional(),
};

/** One metric as written in a spec. */
export const MetricSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('error_rate'), ...common }),
  z.strictObject({ kind: z.literal('outcome_rate'), outcome: z.enum(OUTCOMES), direction: Direction.default('higher_is_worse'), ...common }),
  z.strictObject({
    kind: z.literal('latency'),
    quantile: z.enum(['p50', 'p95', 'p99']).default('p95'),
    method: z.enum(['exceedance', 'mann_whitney']).default('exceedance'),
    field: z.enum(LATENCY_FIELDS).default('latency_ms'),
    /** Default: lower_is_worse for output_tps, else higher_is_worse. `quantile` names the tail on the worse side. */
    direction: Direction.optional(),
    ...common,
  }),
  z.strictObject({ kind: z.literal('score_shift'), method: z.enum(['ks', 'psi']).default('ks'), bins: z.int().min(4).max(50).default(DEFAULTS.scoreBins), ...common }),
  z.strictObject({ kind: z.literal('label_mix'), maxLabels: z.int().min(1).max(50).default(DEFAULTS.labelMaxLabels), ...common }),
  z.strictObject({ kind: z.literal('shadow_agreement'), ...common }),
  z.strictObject({
    kind: z.literal('custom_sql'),
    sql: z.string().min(1).max(10000),
    direction: Direction,
    aggregate: z.enum(['value', 'count']).default('value'),
    ...common,
  }),
]);

const Warmup = z.strictObject({
  /** Seconds after the canary gets traffic or changes weight whose data the judgement leaves out. */
  seconds: z.number().min(0).max(3600).optional(),
  /** ...and at least this many canary requests (whole windows are left out until both are met). */
  requests: z.int().min(0).max(10_000_000).optional(),
  /** Which metrics leave warm-up data out: latency and score metrics (default), or all of them. */
  metrics: z.enum(['latency', 'all']).optional(),
});

const StepSpec = z.union([
  z.number().gt(0).max(100),
  z.strictObject({
    weight: z.number().gt(0).max(100),
    minDurationS: z.number().min(0).optional(),
    minSamples: z.int().min(0).optional(),
    maxDurationS: z.number().gt(0).optional(),
    warmup: Warmup.optional(),
  }),
]);

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected 1-100 letters, digits, . _ - (starting with a letter or digit)');

/** A rollout as written in YAML or sent to the API. */
export const RolloutSpecSchema = z.strictObject({
  id: name,
  model: name,
  stable: name,
  canary: name,
  fallback: name.optional(),
  steps: z.array(StepSpec).min(1).max(20).default([...DEFAULTS.steps]),
  stepDefaults: z.strictObject({
    minDurationS: z.number().min(0).default(DEFAULTS.minDurationS),
    minSamples: z.int().min(0).default(DEFAULTS.minSamples),
    maxDurationS: z.number().gt(0).default(DEFAULTS.maxDurationS),
  }).prefault({}),
  warmup: Warmup.prefault({}),
  tick: z.strictObject({
    intervalS: z.number().min(1).max(3600).default(DEFAULTS.tickIntervalS),
    lagS: z.number().min(0).max(3600).default(DEFAULTS.tickLagS),
  }).prefault({}),
  alpha: z.number().gt(0).max(0.5).default(DEFAULTS.alpha),
  power: z.number().min(0.5).lt(1).default(DEFAULTS.power),
  onFailure: z.enum(['rollback', 'pause']).default(DEFAULTS.onFailure),
  onTimeout: z.enum(['pause', 'rollback']).default(DEFAULTS.onTimeout),
  analysis: z.strictObject({
    sampleSize: z.int().min(50).max(100000).default(DEFAULTS.sampleSize),
    dispersionBlockS: z.number().min(0).max(3600).default(DEFAULTS.dispersionBlockS),
  }).prefault({}),
  bake: z.strictObject({
    /** Seconds at 100% during which the analysis keeps watching and may still roll back; 0 turns the bake off. */
    seconds: z.number().min(0).max(7 * 86400).default(DEFAULTS.bakeS),
  }).prefault({}),
  metrics: z.array(MetricSpecSchema).min(1).max(30).default([
    { kind: 'error_rate' },
    { kind: 'latency', quantile: 'p95', method: 'exceedance', field: 'latency_ms' },
    { kind: 'latency', quantile: 'p99', method: 'exceedance', field: 'latency_ms' },
  ]),
});

/** Whether larger values of a metric are worse, or smaller ones. */
export type Direction = z.infer<typeof Direction>;

interface MetricBase {
  /** Unique name within the rollout (default: derived from the kind). */
  readonly name: string;
  /** A significant regression on a critical metric triggers onFailure; on another one, a pause. */
  readonly critical: boolean;
  /** How much worse than stable the canary may be and still count as good. */
  readonly tolerance: Readonly<{ relative: number; absolute: number }>;
  /** Promotion needs evidence against a regression `detect` times the tolerated one (ratio > 1). */
  readonly detect: number;
  /** Which way is worse. */
  readonly direction: Direction;
  /** Rates: the canary/stable ratio the last analysed step must rule out (null: `detect` applies there too). */
  readonly ruleOut: number | null;
}

/** A metric with every default filled in. */
export type ResolvedMetric =
  | (MetricBase & { readonly kind: 'error_rate' })
  | (MetricBase & { readonly kind: 'outcome_rate'; readonly outcome: Outcome })
  | (MetricBase & {
    readonly kind: 'latency'; readonly quantile: 'p50' | 'p95' | 'p99'; readonly method: 'exceedance' | 'mann_whitney';
    /** The column tested (absent in states saved before it existed: latency_ms). */
    readonly field: LatencyField;
  })
  | (MetricBase & { readonly kind: 'score_shift'; readonly method: 'ks' | 'psi'; readonly bins: number })
  | (MetricBase & { readonly kind: 'label_mix'; readonly maxLabels: number })
  | (MetricBase & { readonly kind: 'shadow_agreement' })
  | (MetricBase & { readonly kind: 'custom_sql'; readonly sql: string; readonly aggregate: 'value' | 'count' });

/** One weight step with its gates. */
export interface ResolvedStep {
  /** Canary weight in percent. */
  readonly weight: number;
  /** The step lasts at least this long before a promotion. */
  readonly minDurationS: number;
  /** The canary serves at least this many requests in the step before a promotion. */
  readonly minSamples: number;
  /** After this long without a decision, onTimeout applies. */
  readonly maxDurationS: number;
  /** Warm-up after the step starts: windows inside it are left out of the judgement. */
  readonly warmup: ResolvedWarmup;
}

/** A step's warm-up. */
export interface ResolvedWarmup {
  readonly seconds: number;
  readonly requests: number;
  /** latency: only latency and score metrics leave warm-up data out; all: every metric does. */
  readonly metrics: 'latency' | 'all';
}

/** A rollout spec with every default filled in; deep-frozen. */
export interface ResolvedRolloutSpec {
  readonly id: string;
  readonly model: string;
  readonly stable: string;
  readonly canary: string;
  readonly fallback: string | null;
  /** Weight steps, strictly increasing, the last one 100. */
  readonly steps: readonly ResolvedStep[];
  readonly tick: Readonly<{ intervalS: number; lagS: number }>;
  /** False-rollback budget for the whole rollout, shared by all metrics. */
  readonly alpha: number;
  /** Chance of catching a regression of `detect` × tolerance before a step is promoted. */
  readonly power: number;
  readonly onFailure: 'rollback' | 'pause';
  readonly onTimeout: 'pause' | 'rollback';
  /** dispersionBlockS: block over which the between-window variance is estimated (0: off). */
  readonly analysis: Readonly<{ sampleSize: number; dispersionBlockS: number }>;
  /**
   * The watch after 100%: for `seconds` the canary serves everything while the previous stable stays
   * configured at weight 0, and a regression against stable's baseline rolls back (0: promoted at 100%).
   * Absent in specs stored before the bake existed: no bake.
   */
  readonly bake?: Readonly<{ seconds: number }>;
  readonly metrics: readonly ResolvedMetric[];
}

/** A spec as written (before defaults). */
export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;

const RULE_OUT_KINDS: ReadonlySet<MetricKind> = new Set(['error_rate', 'outcome_rate']);
const RELATIVE_UNUSED: ReadonlySet<MetricKind> = new Set(['score_shift', 'label_mix', 'shadow_agreement']);

function defaultName(m: z.output<typeof MetricSpecSchema>): string {
  switch (m.kind) {
    case 'outcome_rate': return `outcome_rate:${m.outcome}`;
    case 'latency': return `${m.field === 'latency_ms' ? 'latency' : m.field}:${m.quantile}${m.method === 'mann_whitney' ? ':mw' : ''}`;
    case 'score_shift': return `score_shift:${m.method}`;
    default: return m.kind;
  }
}

function fail(path: string, message: string): never {
  throw ControllerErrors.specInvalid(`invalid rollout spec: ${path}: ${message}`, { details: { issues: [{ path, message }] } });
}

function resolveMetric(m: z.output<typeof MetricSpecSchema>, i: number): ResolvedMetric {
  if (m.tolerance?.relative !== undefined && m.tolerance.relative > 0 && RELATIVE_UNUSED.has(m.kind)) {
    fail(`metrics.${i}.tolerance.relative`, `${m.kind} takes an absolute tolerance only`);
  }
  if (m.kind === 'custom_sql' && !m.name) fail(`metrics.${i}.name`, 'a custom_sql metric needs a name');
  const def = DEFAULT_TOLERANCE[m.kind];
  const tolerance = m.tolerance?.relative === undefined && m.tolerance?.absolute === undefined
    ? { ...def }
    : { relative: m.tolerance?.relative ?? 0, absolute: m.tolerance?.absolute ?? 0 };
  if ((m.kind === 'shadow_agreement' || m.kind === 'score_shift' || m.kind === 'label_mix') && !(tolerance.absolute > 0)) {
    fail(`metrics.${i}.tolerance.absolute`, `${m.kind} needs an absolute tolerance > 0`);
  }
  if (m.kind === 'shadow_agreement' && tolerance.absolute >= 1) fail(`metrics.${i}.tolerance.absolute`, 'must be < 1 (a disagreement rate)');
  if (m.ruleOut !== undefined && !RULE_OUT_KINDS.has(m.kind)) fail(`metrics.${i}.ruleOut`, `${m.kind} takes detect, not ruleOut (ruleOut is for error_rate and outcome_rate)`);
  const ruleOut = m.ruleOut ?? (m.kind === 'error_rate' ? DEFAULTS.errorRuleOut : null);
  const base = { name: m.name ?? defaultName(m), critical: m.critical ?? true, tolerance, detect: m.detect ?? DEFAULTS.detect, ruleOut };
  switch (m.kind) {
    case 'error_rate': return { ...base, kind: m.kind, direction: 'higher_is_worse' };
    case 'outcome_rate': return { ...base, kind: m.kind, outcome: m.outcome, direction: m.direction };
    case 'latency': return {
      ...base, kind: m.kind, quantile: m.quantile, method: m.method, field: m.field,
      direction: m.direction ?? (m.field === 'output_tps' ? 'lower_is_worse' : 'higher_is_worse'),
    };
    case 'score_shift': return { ...base, kind: m.kind, method: m.method, bins: m.bins, direction: 'higher_is_worse' };
    case 'label_mix': return { ...base, kind: m.kind, maxLabels: m.maxLabels, direction: 'higher_is_worse' };
    case 'shadow_agreement': return { ...base, kind: m.kind, direction: 'lower_is_worse' };
    case 'custom_sql': return { ...base, kind: m.kind, sql: m.sql, aggregate: m.aggregate, direction: m.direction };
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

/**
 * Validates a spec and fills in the defaults.
 * @throws MLG_CTL_SPEC_INVALID naming each bad field's path and the reason.
 */
export function parseRolloutSpec(raw: unknown, source = 'rollout spec'): ResolvedRolloutSpec {
  const r = RolloutSpecSchema.safeParse(raw);
  if (!r.success) {
    throw ControllerErrors.specInvalid(`invalid ${source}: ${formatIssues(r.error.issues)}`, {
      details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  const s = r.data;
  if (s.stable === s.canary) fail('canary', 'must differ from stable');
  if (s.fallback !== undefined && s.fallback === s.canary) fail('fallback', 'must differ from canary');
  const steps: ResolvedStep[] = s.steps.map((st, i) => {
    const o = typeof st === 'number' ? { weight: st } : st;
    const step = {
      weight: o.weight,
      minDurationS: o.minDurationS ?? s.stepDefaults.minDurationS,
      minSamples: o.minSamples ?? s.stepDefaults.minSamples,
      maxDurationS: o.maxDurationS ?? s.stepDefaults.maxDurationS,
      warmup: {
        seconds: (typeof st === 'number' ? undefined : st.warmup?.seconds) ?? s.warmup.seconds ?? DEFAULTS.warmupS,
        requests: (typeof st === 'number' ? undefined : st.warmup?.requests) ?? s.warmup.requests ?? DEFAULTS.warmupRequests,
        metrics: (typeof st === 'number' ? undefined : st.warmup?.metrics) ?? s.warmup.metrics ?? 'latency',
      },
    };
    if (step.warmup.seconds >= step.maxDurationS) fail(`steps.${i}.warmup.seconds`, `the warm-up (${step.warmup.seconds}s) must be shorter than the step's maxDurationS (${step.maxDurationS}s)`);
    if (step.maxDurationS < step.minDurationS) fail(`steps.${i}.maxDurationS`, 'must be >= minDurationS');
    if (i > 0 && !(o.weight > (typeof s.steps[i - 1] === 'number' ? (s.steps[i - 1] as number) : (s.steps[i - 1] as { weight: number }).weight))) {
      fail(`steps.${i}`, 'weights must be strictly increasing');
    }
    return step;
  });
  if (steps[steps.length - 1]!.weight !== 100) fail(`steps.${steps.length - 1}`, 'the last step must be 100 (full promotion)');
  if (s.bake.seconds > 0 && s.bake.seconds < s.tick.intervalS) {
    fail('bake.seconds', `must be 0 (no bake) or at least one tick (tick.intervalS = ${s.tick.intervalS}s), not ${s.bake.seconds}`);
  }
  const metrics = s.metrics.map(resolveMetric);
  const seen = new Set<string>();
  metrics.forEach((m, i) => {
    if (seen.has(m.name)) fail(`metrics.${i}.name`, `duplicate metric name ${m.name}`);
    seen.add(m.name);
  });
  return deepFreeze({
    id: s.id, model: s.model, stable: s.stable, canary: s.canary, fallback: s.fallback ?? null,
    steps, tick: s.tick, alpha: s.alpha, power: s.power, onFailure: s.onFailure, onTimeout: s.onTimeout,
    analysis: s.analysis, bake: s.bake, metrics,
  });
}
