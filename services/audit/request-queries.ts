/**
 * Audit queries on `requests`: filtered lists (keyset pages), summaries by dimension, every
 * request with a given input hash, one request by event id, the requests of a trace, and the
 * streamed export. Output rows are the event contract's fields (services/telemetry/event.ts)
 * with `ts` and `ingested_at` as ISO 8601 UTC text; the redacted input is the only payload kept.
 * Columns are constants of this module; every value is a `{name:Type}` parameter.
 */
import type { Warehouse } from '../warehouse/warehouse.ts';
import { AuditErrors } from './errors.ts';
import { csvSafeSql } from './format.ts';
import { SUMMARY_DIMENSIONS, type Condition, type RequestFilter } from './filters.ts';
import { LISTING_SETTINGS, exportRows, listPage, planExport, type ExportFormat, type ExportPlan, type ListingSpec, type Page, type Where } from './listing.ts';
import type { TimeRange } from './time-range.ts';

const iso = (col: string) => `concat(replaceOne(toString(${col}), ' ', 'T'), 'Z') AS ${col}`;

const COMMON = [
  'toString(event_id) AS event_id', iso('ts'), 'gateway_id', 'route', 'model', 'version', 'role', 'rollout_id', 'consumer_id',
  'method', 'status', 'outcome', 'error_class', 'latency_ms', 'upstream_latency_ms', 'ttfb_ms', 'request_bytes', 'response_bytes',
  'input_hash', 'output_hash', 'hash_key_id', 'input_redacted',
];
const TAIL = [
  'prediction_label', 'prediction_score', 'tokens_in', 'tokens_out', 'correlation_id', 'trace_id', 'span_id', 'cache',
  'upstream_model', 'ttft_ms', 'itl_mean_ms', 'itl_p95_ms', 'output_tps', 'cost_usd', 'tokens_estimated', 'schema_version', iso('ingested_at'),
];

/** String columns whose text callers chose: in CSV, neutralised where a spreadsheet would run it. */
const CALLER_TEXT = new Set([
  'gateway_id', 'route', 'model', 'version', 'role', 'rollout_id', 'consumer_id', 'method', 'outcome', 'error_class',
  'input_hash', 'output_hash', 'hash_key_id', 'input_redacted', 'prediction_label', 'correlation_id', 'trace_id', 'span_id', 'cache',
  'upstream_model',
]);
const flat = (cols: readonly string[]) => cols.map((c) => (CALLER_TEXT.has(c) ? csvSafeSql(c) : c));

/**
 * The requests listing: JSON rows keep `redactions` a map; CSV rows carry it as JSON text, and
 * their text cells neutralised against formulas (numeric columns keep their sign).
 */
export const REQUESTS: ListingSpec = Object.freeze({
  table: 'requests',
  idColumn: 'event_id',
  idType: 'UUID',
  select: [...COMMON, 'redactions', ...TAIL].join(', '),
  flatSelect: [...flat(COMMON), 'toJSONString(redactions) AS redactions', ...flat(TAIL)].join(', '),
});

/** One request row as the audit returns it. */
export type RequestRecord = Record<string, unknown> & { event_id: string; ts: string; consumer_id: string; input_hash: string };

function rangeWhere(range: TimeRange | undefined, clauses: string[], params: Record<string, unknown>): void {
  if (!range) return;
  clauses.push("ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')", "ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')");
  params.from_ms = range.fromMs;
  params.to_ms = range.toMs;
}

/** The WHERE of a filter: one `column = {f_i:Type}` per condition plus the time range. */
export function filterWhere(filter: { conditions: readonly Condition[]; range?: TimeRange | undefined }): Where {
  const clauses: string[] = [];
  const params: Record<string, unknown> = {};
  filter.conditions.forEach((c, i) => {
    clauses.push(`${c.column} = {f_${i}:${c.type}}`);
    params[`f_${i}`] = c.value;
  });
  rangeWhere(filter.range, clauses, params);
  return { clauses, params };
}

/**
 * A stable description of a query, the key its cursors are bound to. The time bounds are left
 * out: a relative range (`-7d`) moves between two pages, and a cursor is only a position.
 */
export function queryKey(kind: string, where: Where): string {
  const params = Object.entries(where.params).filter(([k]) => k !== 'from_ms' && k !== 'to_ms').sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([kind, where.clauses, params]);
}

/** Page options. */
export interface PageOptions {
  limit: number;
  cursor?: string | undefined;
}

/** Requests matching `filter`, oldest first. */
export function searchRequests(wh: Warehouse, filter: RequestFilter, page: PageOptions): Promise<Page<RequestRecord>> {
  const where = filterWhere(filter);
  return listPage<RequestRecord>(wh, REQUESTS, where, { ...page, queryKey: queryKey('requests', where), range: filter.range });
}

/** Every request whose input had the keyed hash `hash` (optionally within a range), oldest first. */
export function requestsByInputHash(wh: Warehouse, hash: string, range: TimeRange | undefined, page: PageOptions): Promise<Page<RequestRecord>> {
  const where = filterWhere({ conditions: [{ column: 'input_hash', type: 'String', value: hash }], range });
  return listPage<RequestRecord>(wh, REQUESTS, where, { ...page, queryKey: queryKey('input', where), range });
}

/** The request with event id `id`. @throws MLG_AUD_NOT_FOUND */
export async function requestByEventId(wh: Warehouse, id: string): Promise<RequestRecord> {
  const where = { clauses: ['event_id = {id:UUID}'], params: { id } };
  const page = await listPage<RequestRecord>(wh, REQUESTS, where, { limit: 1, queryKey: 'event' });
  const row = page.rows[0];
  if (!row) throw AuditErrors.notFound(`no request with event_id ${id} (it may be older than the retention, or erased)`, { details: { event_id: id } });
  return row;
}

/** The requests of trace `traceId` (the primary and its shadow copies), oldest first. */
export async function requestsByTraceId(wh: Warehouse, traceId: string, limit: number): Promise<RequestRecord[]> {
  const where = { clauses: ['trace_id = {trace:String}'], params: { trace: traceId } };
  return (await listPage<RequestRecord>(wh, REQUESTS, where, { limit, queryKey: 'trace' })).rows;
}

/** One group of a summary. */
export type SummaryRow = Record<string, unknown> & { requests: number; ok: number; first_ts: string; last_ts: string };

/** Counts of requests matching `filter` grouped by `dims` (names from filters.ts), largest first. */
export async function summarizeRequests(wh: Warehouse, filter: RequestFilter, dims: readonly string[], limit: number): Promise<SummaryRow[]> {
  const where = filterWhere(filter);
  const cols = dims.map((d) => `${SUMMARY_DIMENSIONS[d]} AS ${d}`);
  return wh.query<SummaryRow>(
    `SELECT ${cols.join(', ')}, count() AS requests, countIf(outcome = 'ok') AS ok,
            concat(replaceOne(toString(min(ts)), ' ', 'T'), 'Z') AS first_ts, concat(replaceOne(toString(max(ts)), ' ', 'T'), 'Z') AS last_ts
     FROM ${wh.table('requests')} WHERE ${where.clauses.join(' AND ')}
     GROUP BY ${dims.join(', ')} ORDER BY requests DESC, ${dims.join(', ')} LIMIT {summary_limit:UInt32}
     ${LISTING_SETTINGS}`,
    { ...where.params, summary_limit: limit },
  );
}

/** Plans an export of `where` (its row count and time windows). */
export function planRequestsExport(wh: Warehouse, where: Where, chunkRows: number): Promise<ExportPlan> {
  return planExport(wh, REQUESTS, where, chunkRows);
}

/** Streams every request of `plan` as CSV or JSON lines, one window (at most chunkRows rows) per query. */
export function exportRequests(wh: Warehouse, where: Where, plan: ExportPlan, format: ExportFormat): AsyncGenerator<Buffer, void, undefined> {
  return exportRows(wh, REQUESTS, where, plan, format);
}
