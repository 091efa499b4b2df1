/**
 * The rollout page's ClickHouse reads: traffic per model and version in time buckets (requests,
 * errors, p95 latency; shadow copies as their own series), and a rollout's recorded decisions.
 *
 * Buckets of 10 s come from the raw `requests` table (cheap for the last minutes: the table is
 * ordered by model, version, time); buckets of a minute from the `requests_1m` aggregates, so an
 * hour-long view reads at most 60 rows per version.
 *
 * Only models the caller names (configured ones, and those of rollouts) are read: a name a client
 * sent that reached the table (from an older gateway, before names were checked) gets no series,
 * so it never becomes a card on the page.
 */
import { z } from 'zod';
import { CoreErrors } from '../../core/errors.ts';
import { formatIssues } from '../../core/config.ts';
import type { Warehouse } from '../../warehouse/warehouse.ts';
import { actionOfRow } from '../../ledger/decision-actions.ts';
import { errorOutcomesSql } from '../../telemetry/error-outcomes.ts';

/** Query of the traffic endpoint. */
export const TrafficQuery = z.strictObject({
  /** One model, or every model when absent. */
  model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected a model name').optional(),
  bucket: z.enum(['10s', '1m']).default('10s'),
  /** How far back, in minutes. */
  minutes: z.coerce.number().int().min(1).max(24 * 60).default(15),
});

/** One point of a series. */
export interface TrafficPoint {
  /** Bucket start, ms since the epoch. */
  t: number;
  /** Length of the bucket covered so far (the current bucket is still filling), ms. */
  spanMs: number;
  requests: number;
  errors: number;
  /** 95th percentile latency in the bucket, ms (approximate). */
  p95: number | null;
}

/** Requests of one version of one model (primary traffic, or its shadow copies). */
export interface TrafficSeries {
  model: string;
  version: string;
  shadow: boolean;
  points: TrafficPoint[];
}

/** What the traffic endpoint returns. */
export interface Traffic {
  bucketMs: number;
  from: number;
  to: number;
  series: TrafficSeries[];
}

const ERRORS = errorOutcomesSql();

const RAW_SQL = `SELECT model, version, role = 'shadow' AS shadow,
  toUnixTimestamp(toStartOfInterval(ts, INTERVAL 10 SECOND)) * 1000 AS t,
  count() AS requests, countIf(outcome IN (${ERRORS})) AS errors, quantile(0.95)(latency_ms) AS p95
FROM {db}.requests
WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ({model:String} = '' OR model = {model:String}) AND has({models:Array(String)}, model)
GROUP BY model, version, shadow, t ORDER BY model, version, shadow, t`;

const AGG_SQL = `SELECT model, version, role = 'shadow' AS shadow, toUnixTimestamp(minute) * 1000 AS t,
  sum(requests) AS requests, sum(errors) AS errors, quantileTDigestMerge(0.95)(latency_q) AS p95
FROM {db}.requests_1m
WHERE minute >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND ({model:String} = '' OR model = {model:String}) AND has({models:Array(String)}, model)
GROUP BY model, version, shadow, t ORDER BY model, version, shadow, t`;

interface Row { model: string; version: string; shadow: number | boolean; t: number; requests: number; errors: number; p95: number | null }

/** Validates a raw query string object. @throws MLG_CORE_BAD_ARGUMENT naming the parameter. */
export function parseTrafficQuery(raw: unknown): z.output<typeof TrafficQuery> {
  const r = TrafficQuery.safeParse(raw ?? {});
  if (!r.success) throw CoreErrors.badArgument(`invalid traffic query: ${formatIssues(r.error.issues)}`);
  return r.data;
}

/** Reads the traffic series of the models in `models` (no others). */
export async function readTraffic(wh: Warehouse, q: z.output<typeof TrafficQuery>, models: readonly string[], now = Date.now()): Promise<Traffic> {
  const bucketMs = q.bucket === '10s' ? 10_000 : 60_000;
  const from = Math.floor((now - q.minutes * 60_000) / bucketMs) * bucketMs;
  if (models.length === 0 || (q.model !== undefined && !models.includes(q.model))) return { bucketMs, from, to: now, series: [] };
  const rows = await wh.query<Row>(q.bucket === '10s' ? RAW_SQL : AGG_SQL, { from, model: q.model ?? '', models });
  const series = new Map<string, TrafficSeries>();
  for (const r of rows) {
    const shadow = r.shadow === true || Number(r.shadow) === 1;
    const key = `${r.model}\u0000${r.version}\u0000${shadow}`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { model: r.model, version: r.version, shadow, points: [] }));
    const p95 = r.p95 === null || !Number.isFinite(Number(r.p95)) ? null : Math.round(Number(r.p95) * 10) / 10;
    const t = Number(r.t);
    s.points.push({ t, spanMs: Math.max(1000, Math.min(bucketMs, now - t)), requests: Number(r.requests), errors: Number(r.errors), p95 });
  }
  return { bucketMs, from, to: now, series: [...series.values()] };
}

/** One recorded decision as the page lists it. */
export interface DecisionRow {
  decision_id: string;
  ts: string;
  /** In the controller's vocabulary (start, promote, complete, ...), read from the stored row by ledger/decision-actions.ts. */
  action: string;
  step: number;
  weight_before: number;
  weight_after: number;
  reason: string;
  actor: string;
}

/** Query of the decisions endpoint. */
export const DecisionsQuery = z.strictObject({
  rollout: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected a rollout id'),
  /** Leave out `wait` decisions (the default: they are most rows). */
  waits: z.enum(['true', 'false']).default('false'),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/** Validates a raw query string object. @throws MLG_CORE_BAD_ARGUMENT naming the parameter. */
export function parseDecisionsQuery(raw: unknown): z.output<typeof DecisionsQuery> {
  const r = DecisionsQuery.safeParse(raw ?? {});
  if (!r.success) throw CoreErrors.badArgument(`invalid decisions query: ${formatIssues(r.error.issues)}`);
  return r.data;
}

/** A rollout's decisions from `canary_decisions`, newest first, and how many there are in all. */
export async function readDecisions(wh: Warehouse, q: z.output<typeof DecisionsQuery>): Promise<{ total: number; rows: DecisionRow[] }> {
  const params = { id: q.rollout, waits: q.waits === 'true' ? 1 : 0, n: q.limit };
  const [rows, count] = await Promise.all([
    wh.query<DecisionRow>(`SELECT decision_id, toString(ts) AS ts, action, step, weight_before, weight_after, reason, actor FROM {db}.canary_decisions
      WHERE rollout_id = {id:String} AND ({waits:UInt8} = 1 OR action != 'wait') ORDER BY ts DESC, decision_id DESC LIMIT {n:UInt32}`, params),
    wh.query<{ n: number }>('SELECT count() AS n FROM {db}.canary_decisions WHERE rollout_id = {id:String}', params),
  ]);
  return { total: Number(count[0]?.n ?? 0), rows: rows.map((r) => ({ ...r, action: actionOfRow(r) })) };
}
