/**
 * What the rollout state machine sees on each tick, and the port that fills it.
 *
 * The analysis window design: windows are contiguous and never overlap. On each tick the machine
 * asks for `[end of the previous window, now − lag)` (see `nextWindow` in rollout/machine.ts), the
 * provider returns both arms' numbers for exactly that interval (the same interval for both arms,
 * so canary and stable are always compared on concurrent traffic), and the machine folds the window
 * into its running statistics. Each window is new data, which is what makes the sequential tests'
 * guarantees hold however often the controller looks.
 *
 * A ClickHouse provider fills one window with a few queries over the window's time range:
 * - counts: `requests`, `outcomes`, `errors` per version from the per-minute aggregates when the
 *   window is minute-aligned, else `count()`/`countIf(outcome = ...)` over raw `requests`;
 * - `latencySample`: `groupArraySample(N)(latency_ms)` per version (N = spec.analysis.sampleSize);
 *   exact quantiles, when cheap, from `quantilesExact(0.5, 0.95, 0.99)(latency_ms)`;
 * - `fieldSamples`: for a latency metric on another column (`ttft_ms`, `output_tps`, ...), the
 *   same kind of sample of that column over the rows where it is not null;
 * - `scoreSample`: `groupArraySample(N)(prediction_score)` where the score is not null;
 * - `labelCounts`: `count()` grouped by `prediction_label`;
 * - canary `shadow`: shadow rows joined to their primaries on `correlation_id = event_id`,
 *   counting pairs and pairs with equal `output_hash` (or equal labels);
 * - `custom`: each custom_sql metric's SQL run once per version with `{from}`, `{to}` and
 *   `{version}` bound as query parameters; it returns one number.
 */
import { OUTCOMES, type Outcome } from '../../telemetry/event.ts';
import { ControllerErrors } from '../errors.ts';
import { LATENCY_FIELDS, type LatencyField, type ResolvedRolloutSpec } from '../rollout/spec.ts';

/** Outcomes that count as errors for the `error_rate` metric: the one list, in telemetry/error-outcomes.ts. */
export { ERROR_OUTCOMES } from '../../telemetry/error-outcomes.ts';

/** A half-open time interval [from, to) in ms since the epoch. */
export interface AnalysisWindow {
  /** Start, inclusive (ms). */
  readonly from: number;
  /** End, exclusive (ms). */
  readonly to: number;
}

/** One arm's numbers for one window. */
export interface ArmWindow {
  /** Requests the arm served in the window (every outcome). */
  readonly requests: number;
  /** Requests per outcome; absent outcomes are 0. */
  readonly outcomes: Readonly<Partial<Record<Outcome, number>>>;
  /** Requests with an error-class outcome ({@link ERROR_OUTCOMES}). */
  readonly errors: number;
  /** A uniform random sample (without replacement) of the window's latencies in ms, at most N values. */
  readonly latencySample: readonly number[];
  /** Exact latency quantiles over the whole window, when the provider has them (reported, not tested). */
  readonly latencyQuantiles?: Readonly<{ p50?: number; p95?: number; p99?: number }>;
  /**
   * Samples of the other columns latency metrics test (token timing of LLM streams), drawn like
   * `latencySample` over the rows that have a value; only the columns the rollout's metrics name.
   */
  readonly fieldSamples?: Readonly<Partial<Record<LatencyField, readonly number[]>>>;
  /** A uniform random sample of the window's prediction scores, when the model returns scores. */
  readonly scoreSample?: readonly number[];
  /** Responses per prediction label, when the model returns labels. */
  readonly labelCounts?: Readonly<Record<string, number>>;
  /** Canary only: shadowed requests compared with the primary's answer, and how many agreed. */
  readonly shadow?: Readonly<{ compared: number; agreed: number }>;
  /** Values of the rollout's custom_sql metrics for this arm and window, by metric name. */
  readonly custom?: Readonly<Record<string, number>>;
}

/** The input of one tick: both arms over the same window. */
export interface AnalysisInput {
  /** The rollout this window belongs to. */
  readonly rolloutId: string;
  /** The window both arms cover. */
  readonly window: AnalysisWindow;
  /** The stable version's numbers. */
  readonly stable: ArmWindow;
  /** The canary version's numbers. */
  readonly canary: ArmWindow;
}

/** The port a metrics backend implements (ClickHouse in production, the simulator in tests). */
export interface MetricsProvider {
  /** Collects both arms' numbers for exactly `window`. */
  collect(rollout: ResolvedRolloutSpec, window: AnalysisWindow): Promise<AnalysisInput>;
}

const OUTCOME_SET: ReadonlySet<string> = new Set(OUTCOMES);
const FIELD_SET: ReadonlySet<string> = new Set(LATENCY_FIELDS);

function count(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw ControllerErrors.inputInvalid(`${path}: expected a non-negative integer, got ${JSON.stringify(v)}`, { details: { path } });
  }
  return v;
}

function finiteArray(path: string, v: unknown, nonNegative: boolean): void {
  if (!Array.isArray(v)) throw ControllerErrors.inputInvalid(`${path}: expected an array of numbers`, { details: { path } });
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x) || (nonNegative && x < 0)) {
      throw ControllerErrors.inputInvalid(`${path}[${i}]: expected a finite${nonNegative ? ' non-negative' : ''} number`, { details: { path: `${path}[${i}]` } });
    }
  }
}

function validateArm(path: string, arm: ArmWindow): void {
  if (typeof arm !== 'object' || arm === null) throw ControllerErrors.inputInvalid(`${path}: missing`, { details: { path } });
  const requests = count(`${path}.requests`, arm.requests);
  let outcomeTotal = 0;
  for (const [name, n] of Object.entries(arm.outcomes ?? {})) {
    if (!OUTCOME_SET.has(name)) throw ControllerErrors.inputInvalid(`${path}.outcomes.${name}: unknown outcome`, { details: { path: `${path}.outcomes.${name}` } });
    outcomeTotal += count(`${path}.outcomes.${name}`, n);
  }
  if (outcomeTotal > requests) throw ControllerErrors.inputInvalid(`${path}.outcomes: ${outcomeTotal} outcomes for ${requests} requests`, { details: { path: `${path}.outcomes` } });
  if (count(`${path}.errors`, arm.errors) > requests) throw ControllerErrors.inputInvalid(`${path}.errors: more errors than requests`, { details: { path: `${path}.errors` } });
  finiteArray(`${path}.latencySample`, arm.latencySample, true);
  if (arm.latencySample.length > requests) throw ControllerErrors.inputInvalid(`${path}.latencySample: more values than requests`, { details: { path: `${path}.latencySample` } });
  for (const [field, sample] of Object.entries(arm.fieldSamples ?? {})) {
    const at = `${path}.fieldSamples.${field}`;
    if (!FIELD_SET.has(field)) throw ControllerErrors.inputInvalid(`${at}: unknown field (expected one of ${LATENCY_FIELDS.join(', ')})`, { details: { path: at } });
    finiteArray(at, sample, true);
    if ((sample as readonly number[]).length > requests) throw ControllerErrors.inputInvalid(`${at}: more values than requests`, { details: { path: at } });
  }
  if (arm.scoreSample !== undefined) finiteArray(`${path}.scoreSample`, arm.scoreSample, false);
  for (const [label, n] of Object.entries(arm.labelCounts ?? {})) count(`${path}.labelCounts.${label}`, n);
  if (arm.shadow !== undefined) {
    const compared = count(`${path}.shadow.compared`, arm.shadow.compared);
    if (count(`${path}.shadow.agreed`, arm.shadow.agreed) > compared) throw ControllerErrors.inputInvalid(`${path}.shadow.agreed: more than compared`, { details: { path: `${path}.shadow.agreed` } });
  }
  for (const [name, v] of Object.entries(arm.custom ?? {})) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw ControllerErrors.inputInvalid(`${path}.custom.${name}: expected a finite number`, { details: { path: `${path}.custom.${name}` } });
  }
}

/**
 * Checks an input's shape and that it covers `expected` exactly.
 * @throws MLG_CTL_INPUT_INVALID naming the first bad field.
 */
export function validateInput(input: AnalysisInput, expected: AnalysisWindow, rolloutId: string): void {
  if (typeof input !== 'object' || input === null) throw ControllerErrors.inputInvalid('input: expected an object');
  if (input.rolloutId !== rolloutId) throw ControllerErrors.inputInvalid(`rolloutId: expected ${rolloutId}, got ${String(input.rolloutId)}`, { details: { path: 'rolloutId' } });
  if (input.window?.from !== expected.from || input.window?.to !== expected.to) {
    throw ControllerErrors.inputInvalid(`window: expected [${expected.from}, ${expected.to}), got [${input.window?.from}, ${input.window?.to})`, { details: { path: 'window' } });
  }
  validateArm('stable', input.stable);
  validateArm('canary', input.canary);
}
