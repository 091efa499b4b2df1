/**
 * The simulation scenario: traffic, both arms' behaviour, changes over time, the rollout spec, the
 * number of runs and the seed. Format documented in docs/canary.md ("Scenario format").
 */
import { z } from 'zod';
import { formatIssues, readYamlFile } from '../../core/config.ts';
import { OUTCOMES, type Outcome } from '../../telemetry/event.ts';
import { ControllerErrors } from '../errors.ts';
import { parseRolloutSpec, type ResolvedRolloutSpec } from '../rollout/spec.ts';

const pos = z.number().gt(0);
const prob = z.number().min(0).max(1);

const Lognormal = z.strictObject({ median: pos, p95: pos.optional(), p99: pos.optional() })
  .refine((l) => (l.p95 === undefined) !== (l.p99 === undefined), 'give exactly one of p95, p99')
  .refine((l) => (l.p95 ?? l.p99 ?? Infinity) > l.median, 'the tail quantile must exceed the median');
const Latency = z.union([
  Lognormal,
  z.strictObject({ mixture: z.array(z.strictObject({ weight: pos, median: pos, p95: pos.optional(), p99: pos.optional() })
    .refine((l) => (l.p95 === undefined) !== (l.p99 === undefined), 'give exactly one of p95, p99')
    .refine((l) => (l.p95 ?? l.p99 ?? Infinity) > l.median, 'the tail quantile must exceed the median')).min(1).max(10) }),
]);

const armFields = {
  /** Rate of upstream_error outcomes. */
  errorRate: prob.optional(),
  /** Rates of other outcomes (error-class ones count as errors too). */
  outcomes: z.partialRecord(z.enum(OUTCOMES), prob).optional(),
  latency: Latency.optional(),
  /** Logit-normal prediction scores: sigmoid(N(mean, sd)). */
  scores: z.strictObject({ mean: z.number(), sd: z.number().min(0) }).optional(),
  /** Prediction label probabilities (normalised). */
  labels: z.record(z.string().min(1), z.number().min(0)).optional(),
  /** Canary only: shadow copies compared per second and the probability that they agree. */
  shadow: z.strictObject({ rps: z.number().min(0), agreement: prob }).optional(),
  /**
   * Over-dispersion: every `intervalS` the arm's error-class rates are multiplied by a log-normal
   * factor exp(σ·Z − σ²/2) (mean 1) with σ = errorSigma, and its latencies by exp(latencySigma·Z).
   */
  noise: z.strictObject({
    intervalS: z.number().gt(0).max(86400).default(60),
    errorSigma: z.number().min(0).max(3).default(0),
    latencySigma: z.number().min(0).max(3).default(0),
  }).optional(),
  /**
   * Warm-up: for `seconds` after the arm gets traffic (per: version) or after each weight change
   * (per: step, the default), latencies are multiplied by latencyFactor and error-class rates by errorFactor.
   */
  warmup: z.strictObject({
    seconds: z.number().gt(0).max(86400),
    latencyFactor: z.number().gt(0).max(100).default(1),
    errorFactor: z.number().min(0).max(100).default(1),
    per: z.enum(['step', 'version']).default('step'),
  }).optional(),
};

/** The scenario file's schema. */
export const ScenarioSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'expected 1-100 letters, digits, . _ -'),
  description: z.string().max(2000).optional(),
  durationS: z.number().gt(0).max(7 * 86400).default(3600),
  runs: z.int().min(1).max(100000).default(100),
  seed: z.int().min(0).max(2 ** 32 - 1).default(1),
  expect: z.enum(['promote', 'rollback']).optional(),
  traffic: z.strictObject({
    rps: z.union([pos, z.array(z.strictObject({ at: z.number().min(0), rps: z.number().min(0) })).min(1)]),
  }),
  arms: z.strictObject({
    stable: z.strictObject({ ...armFields, latency: Latency }),
    canary: z.strictObject(armFields).default({}),
  }),
  changes: z.array(z.strictObject({ at: z.number().min(0), arm: z.enum(['stable', 'canary']), ...armFields })).default([]),
  /** Changes timed from the moment the canary reaches 100% (a regression that starts after the promotion). */
  afterPromotion: z.array(z.strictObject({ afterS: z.number().min(0), arm: z.enum(['stable', 'canary']), ...armFields })).default([]),
  rollout: z.record(z.string(), z.unknown()).default({}),
});

/** One lognormal component of a latency distribution. */
export interface LatencyComponent {
  readonly weight: number;
  readonly mu: number;
  readonly sigma: number;
}

/** An arm's behaviour at some moment. */
export interface ArmModel {
  readonly outcomeRates: Readonly<Partial<Record<Outcome, number>>>;
  readonly latency: readonly LatencyComponent[];
  readonly scores: Readonly<{ mean: number; sd: number }> | null;
  readonly labels: readonly (readonly [string, number])[] | null;
  readonly shadow: Readonly<{ rps: number; agreement: number }> | null;
  readonly noise: Readonly<{ intervalS: number; errorSigma: number; latencySigma: number }> | null;
  readonly warmup: Readonly<{ seconds: number; latencyFactor: number; errorFactor: number; per: 'step' | 'version' }> | null;
}

/** A validated scenario with every arm resolved for each period between changes. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly durationS: number;
  readonly runs: number;
  readonly seed: number;
  readonly expect: 'promote' | 'rollback' | null;
  /** Piecewise-constant total requests/s: [start second, rps], sorted. */
  readonly rps: readonly (readonly [number, number])[];
  /** Periods with constant arm behaviour: [start second, stable, canary], sorted. */
  readonly periods: readonly (readonly [number, ArmModel, ArmModel])[];
  /**
   * Periods that start the given seconds after the canary's weight first reaches 100% (each on top of
   * the arms in force at the end of `periods`): [seconds after 100%, stable, canary], sorted.
   */
  readonly afterPromotion: readonly (readonly [number, ArmModel, ArmModel])[];
  readonly rollout: ResolvedRolloutSpec;
}

type ArmInput = z.infer<z.ZodObject<typeof armFields>>;

const Z95 = 1.6448536269514722;
const Z99 = 2.3263478740408408;

function component(c: { median: number; p95?: number | undefined; p99?: number | undefined }, weight: number): LatencyComponent {
  const mu = Math.log(c.median);
  const sigma = c.p95 !== undefined ? (Math.log(c.p95) - mu) / Z95 : (Math.log(c.p99!) - mu) / Z99;
  return { weight, mu, sigma };
}

function resolveArm(a: ArmInput): ArmModel {
  const outcomeRates: Partial<Record<Outcome, number>> = { ...(a.outcomes ?? {}) };
  if (a.errorRate !== undefined) outcomeRates.upstream_error = a.errorRate;
  const total = Object.values(outcomeRates).reduce((x, y) => x + (y ?? 0), 0);
  if (total > 1) throw ControllerErrors.scenarioInvalid(`outcome rates add up to ${total} > 1`);
  const lat = a.latency!;
  const latency = 'mixture' in lat
    ? lat.mixture.map((c) => component(c, c.weight / lat.mixture.reduce((s, x) => s + x.weight, 0)))
    : [component(lat, 1)];
  const labelTotal = Object.values(a.labels ?? {}).reduce((x, y) => x + y, 0);
  if (a.labels && !(labelTotal > 0)) throw ControllerErrors.scenarioInvalid('labels: probabilities must not all be 0');
  return {
    outcomeRates, latency,
    scores: a.scores ?? null,
    labels: a.labels ? Object.entries(a.labels).map(([k, v]) => [k, v / labelTotal] as const) : null,
    shadow: a.shadow ?? null,
    noise: a.noise ? { intervalS: a.noise.intervalS ?? 60, errorSigma: a.noise.errorSigma ?? 0, latencySigma: a.noise.latencySigma ?? 0 } : null,
    warmup: a.warmup ? { seconds: a.warmup.seconds, latencyFactor: a.warmup.latencyFactor ?? 1, errorFactor: a.warmup.errorFactor ?? 1, per: a.warmup.per ?? 'step' } : null,
  };
}

function merge(base: ArmInput, over: ArmInput): ArmInput {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) out[k] = v;
  return out as ArmInput;
}

/**
 * Validates a scenario object.
 * @throws MLG_CTL_SCENARIO_INVALID naming each bad field (rollout fields as `rollout.<path>`).
 */
export function parseScenario(raw: unknown, source = 'scenario'): Scenario {
  const r = ScenarioSchema.safeParse(raw);
  if (!r.success) throw ControllerErrors.scenarioInvalid(`invalid ${source}: ${formatIssues(r.error.issues)}`);
  const s = r.data;
  let rollout: ResolvedRolloutSpec;
  try {
    rollout = parseRolloutSpec({ id: s.name, model: 'sim-model', stable: 'stable', canary: 'canary', ...s.rollout }, `${source} rollout`);
  } catch (err) {
    const issues = ControllerErrors.specInvalid.is(err) ? (err.details?.issues as { path: string; message: string }[] | undefined) : undefined;
    const text = issues ? issues.map((i) => `rollout.${i.path || '(root)'}: ${i.message}`).join('; ') : `rollout: ${(err as Error).message}`;
    throw ControllerErrors.scenarioInvalid(`invalid ${source}: ${text}`, { cause: err });
  }
  const rps = typeof s.traffic.rps === 'number' ? [[0, s.traffic.rps] as const] : [...s.traffic.rps].sort((a, b) => a.at - b.at).map((x) => [x.at, x.rps] as const);
  if (rps[0]![0] !== 0) throw ControllerErrors.scenarioInvalid(`invalid ${source}: traffic.rps: the schedule must start at 0`);
  let stable: ArmInput = s.arms.stable;
  let canary: ArmInput = merge(s.arms.stable, s.arms.canary);
  const periods: (readonly [number, ArmModel, ArmModel])[] = [];
  const push = (at: number, into = periods, label = `${at}s`) => {
    try {
      into.push([at, resolveArm(stable), resolveArm(canary)]);
    } catch (err) {
      throw ControllerErrors.scenarioInvalid(`invalid ${source}: arms at ${label}: ${(err as Error).message}`, { cause: err });
    }
  };
  push(0);
  for (const ch of [...s.changes].sort((a, b) => a.at - b.at)) {
    const { at, arm, ...fields } = ch;
    if (arm === 'stable') stable = merge(stable, fields);
    else canary = merge(canary, fields);
    if (periods[periods.length - 1]![0] === at) periods.pop();
    push(at);
  }
  const afterPromotion: (readonly [number, ArmModel, ArmModel])[] = [];
  for (const ch of [...s.afterPromotion].sort((a, b) => a.afterS - b.afterS)) {
    const { afterS, arm, ...fields } = ch;
    if (arm === 'stable') stable = merge(stable, fields);
    else canary = merge(canary, fields);
    if (afterPromotion.length && afterPromotion[afterPromotion.length - 1]![0] === afterS) afterPromotion.pop();
    push(afterS, afterPromotion, `${afterS}s after 100%`);
  }
  return {
    name: s.name, description: s.description ?? '', durationS: s.durationS, runs: s.runs, seed: s.seed,
    expect: s.expect ?? null, rps, periods, afterPromotion, rollout,
  };
}

/** Reads and validates a scenario YAML (or JSON) file. */
export function loadScenario(path: string): Scenario {
  return parseScenario(readYamlFile(path, 'scenario file', ControllerErrors.scenarioInvalid), path);
}
