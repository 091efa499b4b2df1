/**
 * The ClickHouse MetricsProvider: fills an AnalysisInput for one window [from, to) of a rollout
 * from the raw `requests` table, with a handful of queries (each runs only when a metric needs it):
 *
 * 1. counts: requests and requests per outcome per version, plus t-digest latency quantiles
 *    (reported only);
 * 2. latency sample: per version, the N rows with the smallest `cityHash64(event_id)` (N =
 *    spec.analysis.sampleSize): a uniform sample (event ids are UUIDv7 with random bits) that is
 *    deterministic, so the same query on the same rows gives the same sample and a window's
 *    exceedance counts can be recomputed from ClickHouse;
 * 3. score sample (score_shift), the same way over rows with a score; and, for each other column
 *    a latency metric names (the token timing of LLM streams: ttft_ms, output_tps, ...), a sample
 *    of that column the same way over the rows that have it;
 * 4. label counts (label_mix);
 * 5. shadow agreement (shadow_agreement): the canary's shadow rows in the window joined to their
 *    primaries (`correlation_id` = the primary's `event_id`, the primary served by stable): pairs
 *    whose primary succeeded are compared; a pair agrees when the shadow succeeded and both
 *    labels are equal (when both have one) or else both output hashes are equal;
 * 6. each custom_sql metric, once per arm (custom-sql.ts): checked again here, then run through
 *    Warehouse.queryReadOnly (readonly = 1, no DDL, bounded time, rows and memory; on a server as
 *    `customSql.user` when configured), so a text that slipped past the check still cannot write,
 *    change settings or call a table function.
 *
 * Arms: an arm is the rows of its version with role `stable` or `canary`: requests the gateway's
 * weighted choice sent to it. Shadow copies, fallbacks (served by another version than the one
 * chosen) and pinned requests (the caller chose the version) are not part of the comparison.
 * Role labels are not used to tell the arms apart: the gateway names roles from the routing
 * state (its fallback, else its heaviest version), which changes during a rollout.
 *
 * Why raw rows and not `requests_1m`: windows are seconds long and rarely minute-aligned, the
 * samples must come from the raw rows anyway, and mixing the two sources would let counts and
 * samples disagree. The scan is an index range on (model, version, ts), cheap for short windows.
 */
import { silentLogger, type Logger } from '../../../core/log.ts';
import { OUTCOMES, type Outcome } from '../../../telemetry/event.ts';
import type { ReadOnlyOptions, Warehouse } from '../../../warehouse/warehouse.ts';
import { ERROR_OUTCOMES, type AnalysisInput, type AnalysisWindow, type ArmWindow, type MetricsProvider } from '../../analysis/input.ts';
import { ControllerErrors } from '../../errors.ts';
import type { LatencyField, ResolvedRolloutSpec } from '../../rollout/spec.ts';
import { checkCustomSql, customSqlParams, firstNumber } from './custom-sql.ts';

/** Options of {@link ClickHouseMetricsProvider}. */
export interface ClickHouseProviderOptions {
  warehouse: Warehouse;
  logger?: Logger;
  /** Caps every spec's analysis.sampleSize (default 10,000). */
  maxSampleSize?: number;
  /** A query slower than this fails the window (default 20 s); also custom SQL's `max_execution_time`. */
  queryTimeoutMs?: number;
  /** Bounds and server user of custom_sql queries. */
  customSql?: {
    /** `max_result_rows` (default 100,000). */
    maxResultRows?: number;
    /** `max_memory_usage`, bytes (default 1 GiB). */
    maxMemoryBytes?: number;
    /** Server only: the read-only user custom SQL runs as (its profile's settings apply). */
    user?: { username: string; password: string };
  };
}

/** How the provider selected the rows of a window: written into each decision's evidence. */
export const COLLECTION = Object.freeze({
  table: 'requests',
  arms: "version = <arm's version> AND role IN ('stable', 'canary')",
  time: 'ts >= from AND ts < to (request start, ms)',
  sample: 'ORDER BY cityHash64(event_id) LIMIT sampleSize BY version',
});

const ARM_FILTER = `model = {model:String} AND version IN ({stable:String}, {canary:String}) AND role IN ('stable', 'canary')
  AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;

const COUNTS_SQL = `SELECT version, count() AS requests, sumMap(map(toString(outcome), toUInt64(1))) AS outcomes,
  quantilesTDigest(0.5, 0.95, 0.99)(latency_ms) AS q
FROM {db}.requests WHERE ${ARM_FILTER} GROUP BY version`;

const LATENCY_SQL = `SELECT version, groupArray(latency_ms) AS sample FROM (
  SELECT version, latency_ms FROM {db}.requests WHERE ${ARM_FILTER}
  ORDER BY cityHash64(event_id) LIMIT {n:UInt32} BY version
) GROUP BY version`;

const SCORE_SQL = `SELECT version, groupArray(score) AS sample FROM (
  SELECT version, assumeNotNull(prediction_score) AS score FROM {db}.requests WHERE ${ARM_FILTER} AND prediction_score IS NOT NULL
  ORDER BY cityHash64(event_id) LIMIT {n:UInt32} BY version
) GROUP BY version`;

/** The sample of another column a latency metric tests (`field` is from the spec's closed list, never a caller's text). */
const fieldSql = (field: Exclude<LatencyField, 'latency_ms'>): string => `SELECT version, groupArray(v) AS sample FROM (
  SELECT version, assumeNotNull(${field}) AS v FROM {db}.requests WHERE ${ARM_FILTER} AND ${field} IS NOT NULL
  ORDER BY cityHash64(event_id) LIMIT {n:UInt32} BY version
) GROUP BY version`;

const LABEL_SQL = `SELECT version, toString(assumeNotNull(prediction_label)) AS label, count() AS n
FROM {db}.requests WHERE ${ARM_FILTER} AND prediction_label IS NOT NULL
GROUP BY version, label ORDER BY n DESC LIMIT 1000`;

const SHADOW_SQL = `SELECT count() AS compared,
  countIf(s.outcome = 'ok' AND (
    (isNotNull(s.label) AND isNotNull(p.label) AND ifNull(s.label = p.label, 0))
    OR ((isNull(s.label) OR isNull(p.label)) AND s.output_hash != '' AND s.output_hash = p.output_hash))) AS agreed
FROM (
  SELECT correlation_id, toString(outcome) AS outcome, output_hash, CAST(prediction_label AS Nullable(String)) AS label FROM {db}.requests
  WHERE model = {model:String} AND version = {canary:String} AND role = 'shadow'
    AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
) AS s
INNER JOIN (
  SELECT toString(event_id) AS id, output_hash, CAST(prediction_label AS Nullable(String)) AS label FROM {db}.requests
  WHERE model = {model:String} AND version = {stable:String} AND role != 'shadow' AND outcome = 'ok'
    AND ts >= fromUnixTimestamp64Milli({from:Int64} - 60000, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64} + 60000, 'UTC')
) AS p ON s.correlation_id = p.id`;

const OUTCOME_SET: ReadonlySet<string> = new Set(OUTCOMES);
const ERROR_SET: ReadonlySet<string> = new Set(ERROR_OUTCOMES);

interface CountsRow { version: string; requests: number; outcomes: Record<string, number>; q: number[] }
interface SampleRow { version: string; sample: number[] }
interface LabelRow { version: string; label: string; n: number }

/** Mutable arm while the queries fill it. */
interface Arm {
  requests: number;
  outcomes: Partial<Record<Outcome, number>>;
  errors: number;
  latencySample: number[];
  latencyQuantiles?: { p50?: number; p95?: number; p99?: number };
  fieldSamples?: Partial<Record<LatencyField, number[]>>;
  scoreSample?: number[];
  labelCounts?: Record<string, number>;
  shadow?: { compared: number; agreed: number };
  custom?: Record<string, number>;
}

const emptyArm = (): Arm => ({ requests: 0, outcomes: {}, errors: 0, latencySample: [] });

/** The ClickHouse adapter of the MetricsProvider port; see the module comment. */
export class ClickHouseMetricsProvider implements MetricsProvider {
  private readonly wh: Warehouse;
  private readonly log: Logger;
  private readonly maxSample: number;
  private readonly timeoutMs: number;
  private readonly readOnly: ReadOnlyOptions;

  constructor(opts: ClickHouseProviderOptions) {
    if (!opts?.warehouse) throw ControllerErrors.badOptions('clickhouse provider: warehouse is required');
    const max = opts.maxSampleSize ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw ControllerErrors.badOptions('clickhouse provider: maxSampleSize must be a positive integer');
    const timeout = opts.queryTimeoutMs ?? 20_000;
    if (!Number.isInteger(timeout) || timeout < 1) throw ControllerErrors.badOptions('clickhouse provider: queryTimeoutMs must be a positive integer');
    this.wh = opts.warehouse;
    this.log = opts.logger ?? silentLogger();
    this.maxSample = max;
    this.timeoutMs = timeout;
    const c = opts.customSql ?? {};
    this.readOnly = {
      maxExecutionS: Math.ceil(timeout / 1000), maxResultRows: c.maxResultRows ?? 100_000, maxMemoryBytes: c.maxMemoryBytes ?? 2 ** 30,
      ...(c.user ? { user: c.user } : {}),
    };
    if (![this.readOnly.maxResultRows, this.readOnly.maxMemoryBytes].every((n) => Number.isInteger(n) && n > 0)) {
      throw ControllerErrors.badOptions('clickhouse provider: customSql limits must be positive integers');
    }
  }

  /** Collects both arms for `window`. @throws MLG_CTL_COLLECT_FAILED when a query fails or times out. */
  async collect(spec: ResolvedRolloutSpec, window: AnalysisWindow): Promise<AnalysisInput> {
    const kinds = new Set(spec.metrics.map((m) => m.kind));
    const params = { model: spec.model, stable: spec.stable, canary: spec.canary, from: window.from, to: window.to, n: Math.min(spec.analysis.sampleSize, this.maxSample) };
    const arms = new Map<string, Arm>([[spec.stable, emptyArm()], [spec.canary, emptyArm()]]);
    const arm = (version: string) => arms.get(version);
    const jobs: Promise<void>[] = [
      this.run<CountsRow>('counts', COUNTS_SQL, params).then((rows) => {
        for (const r of rows) {
          const a = arm(r.version);
          if (!a) continue;
          a.requests = Number(r.requests);
          for (const [o, n] of Object.entries(r.outcomes ?? {})) {
            if (!OUTCOME_SET.has(o)) continue; // an outcome from a newer gateway: counted in requests only
            a.outcomes[o as Outcome] = Number(n);
            if (ERROR_SET.has(o)) a.errors += Number(n);
          }
          const [p50, p95, p99] = (r.q ?? []).map(Number);
          if (a.requests > 0 && [p50, p95, p99].every((x) => Number.isFinite(x))) a.latencyQuantiles = { p50: p50!, p95: p95!, p99: p99! };
        }
      }),
      this.run<SampleRow>('latency sample', LATENCY_SQL, params).then((rows) => {
        for (const r of rows) { const a = arm(r.version); if (a) a.latencySample = r.sample.map(Number); }
      }),
    ];
    if (kinds.has('score_shift')) {
      jobs.push(this.run<SampleRow>('score sample', SCORE_SQL, params).then((rows) => {
        for (const v of arms.values()) v.scoreSample = [];
        for (const r of rows) { const a = arm(r.version); if (a) a.scoreSample = r.sample.map(Number); }
      }));
    }
    const fields = new Set<Exclude<LatencyField, 'latency_ms'>>();
    for (const m of spec.metrics) if (m.kind === 'latency' && m.field !== undefined && m.field !== 'latency_ms') fields.add(m.field);
    for (const field of fields) {
      jobs.push(this.run<SampleRow>(`${field} sample`, fieldSql(field), params).then((rows) => {
        for (const v of arms.values()) (v.fieldSamples ??= {})[field] = [];
        for (const r of rows) { const a = arm(r.version); if (a) a.fieldSamples![field] = r.sample.map(Number); }
      }));
    }
    if (kinds.has('label_mix')) {
      jobs.push(this.run<LabelRow>('label counts', LABEL_SQL, params).then((rows) => {
        for (const v of arms.values()) v.labelCounts = {};
        for (const r of rows) { const a = arm(r.version); if (a) a.labelCounts![r.label] = Number(r.n); }
      }));
    }
    if (kinds.has('shadow_agreement')) {
      jobs.push(this.run<{ compared: number; agreed: number }>('shadow agreement', SHADOW_SQL, params).then((rows) => {
        arm(spec.canary)!.shadow = { compared: Number(rows[0]?.compared ?? 0), agreed: Number(rows[0]?.agreed ?? 0) };
      }));
    }
    for (const m of spec.metrics) {
      if (m.kind !== 'custom_sql') continue;
      const sql = checkCustomSql(m.sql, `metric ${m.name}`);
      for (const version of [spec.stable, spec.canary]) {
        jobs.push(this.runCustom(m.name, sql, customSqlParams({ ...window, model: spec.model, version, rolloutId: spec.id })).then((rows) => {
          const v = firstNumber(rows);
          if (v === undefined) return;
          const a = arm(version)!;
          (a.custom ??= {})[m.name] = v;
        }));
      }
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const finish = (a: Arm): ArmWindow => {
      // A row ingested between the count and the sample query must not make the sample larger than the count.
      if (a.latencySample.length > a.requests) a.latencySample.length = a.requests;
      for (const s of Object.values(a.fieldSamples ?? {})) if (s.length > a.requests) s.length = a.requests;
      return a;
    };
    return { rolloutId: spec.id, window: { from: window.from, to: window.to }, stable: finish(arm(spec.stable)!), canary: finish(arm(spec.canary)!) };
  }

  /**
   * Runs custom_sql text read-only and bounded, without the static check (collect() checks first):
   * the second layer on its own (see the module comment), public so it can be tested as such.
   */
  runCustom(name: string, sql: string, params: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    return this.run(`custom ${name}`, sql, params, true);
  }

  private async run<T>(what: string, sql: string, params: Record<string, unknown>, readOnly = false): Promise<T[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(ControllerErrors.collectFailed(`${what} query took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
    });
    try {
      const rows = readOnly ? this.wh.queryReadOnly<T>(sql, params, this.readOnly) : this.wh.query<T>(sql, params);
      return await Promise.race([rows, timeout]);
    } catch (err) {
      if (ControllerErrors.collectFailed.is(err) || ControllerErrors.customSqlInvalid.is(err)) throw err;
      this.log.debug({ err, what }, 'provider query failed');
      throw ControllerErrors.collectFailed(`${what} query failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
