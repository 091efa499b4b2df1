/**
 * Keyset pagination and chunked export over a table ordered by (ts, id). A page is
 * `WHERE … AND (ts, id) > cursor ORDER BY ts, id LIMIT n+1` (never OFFSET: page 1000 costs what
 * page 1 costs and rows arriving meanwhile never shift a page). The cursor is opaque text holding
 * the last row's (ts, id) and a digest of the query, so a cursor cannot be replayed against
 * another filter. It is not signed: it only names a position within a query its holder may run
 * anyway. Every field is checked (ts a whole ms in the accepted time range, the id of the
 * table's id shape) before it becomes a parameter, so a forged cursor is a 400, never an engine
 * failure. An export is cut into time windows of at most `chunkRows` rows (from a
 * histogram of the selected rows), each its own query, so memory stays bounded on either engine
 * (the embedded engine materialises a query's whole result before handing it over; a window is
 * all it ever holds) and the work stays linear in the rows exported.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { AuditErrors } from './errors.ts';
import { MAX_MS, MIN_MS } from './time-range.ts';

/** A table listed by (ts, id). */
export interface ListingSpec {
  readonly table: string;
  /** Column that breaks ties within one ms. */
  readonly idColumn: string;
  /** ClickHouse type of the id column (for its cursor parameter). */
  readonly idType: 'UUID' | 'String';
  /** Columns for JSON output (API pages, JSON lines). */
  readonly select: string;
  /** Columns for CSV output (flat: maps and arrays as JSON text). */
  readonly flatSelect: string;
}

/** WHERE conditions (SQL with `{name:Type}` placeholders only) and their parameters. */
export interface Where {
  readonly clauses: readonly string[];
  readonly params: Readonly<Record<string, unknown>>;
}

/** One page of rows. */
export interface Page<T = Record<string, unknown>> {
  readonly rows: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly next_cursor: string | null;
}

/** Position after a row: its ts (ms) and id. */
interface Position {
  ts: number;
  id: string;
}

/** Output formats of an export. */
export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * Settings every listing statement carries (statement-local: see services/warehouse/warehouse.ts).
 * `prefer_column_name_to_alias`: output columns such as `toString(ts) AS ts` keep the column's
 * name, and WHERE / ORDER BY must still see the column, not the text.
 */
export const LISTING_SETTINGS =
  "SETTINGS prefer_column_name_to_alias = 1, output_format_json_quote_64bit_integers = 0, format_csv_null_representation = ''";

function digest(queryKey: string): string {
  return createHash('sha256').update(queryKey).digest('base64url').slice(0, 12);
}

/** Encodes the position after a row for the query `queryKey`. */
export function encodeCursor(pos: Position, queryKey: string): string {
  return Buffer.from(JSON.stringify([pos.ts, pos.id, digest(queryKey)])).toString('base64url');
}

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what it rejects
const TEXT_ID = /^[^\u0000-\u001f\u007f]{1,200}$/;

/** True when `v` is a position a page of this API could have ended on. */
function isPosition(v: unknown[], idType: ListingSpec['idType']): boolean {
  const [ts, id] = v;
  return Number.isSafeInteger(ts) && (ts as number) >= MIN_MS && (ts as number) < MAX_MS
    && typeof id === 'string' && (idType === 'UUID' ? UUID_TEXT.test(id) : TEXT_ID.test(id));
}

/**
 * Decodes a cursor made by {@link encodeCursor} for the same `queryKey`, checking each field
 * (ts in the accepted time range, the id of `idType`'s shape) before it can reach a query.
 * @throws MLG_AUD_BAD_CURSOR
 */
export function decodeCursor(cursor: string, queryKey: string, idType: ListingSpec['idType'] = 'String'): Position {
  let v: unknown;
  try {
    if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new Error('not base64url');
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw AuditErrors.badCursor('cursor is not one this API issued (pass next_cursor back unchanged)', { details: { field: 'cursor' } });
  }
  if (!Array.isArray(v) || v.length !== 3 || typeof v[2] !== 'string' || !isPosition(v, idType)) {
    throw AuditErrors.badCursor('cursor is malformed (pass next_cursor back unchanged)', { details: { field: 'cursor' } });
  }
  if (v[2] !== digest(queryKey)) {
    throw AuditErrors.badCursor('cursor belongs to another query: keep the filter unchanged while paging', { details: { field: 'cursor' } });
  }
  return { ts: v[0] as number, id: v[1] as string };
}

/**
 * The keyset condition, plus the same bound on ts alone: ClickHouse prunes partitions and
 * primary-key ranges on a plain ts comparison, not on the tuple.
 */
function afterClause(spec: ListingSpec, prefix: string, op: '>' | '<='): string {
  const ts = `fromUnixTimestamp64Milli({${prefix}_ts:Int64}, 'UTC')`;
  return `ts ${op === '>' ? '>=' : '<='} ${ts} AND (ts, ${spec.idColumn}) ${op} (${ts}, {${prefix}_id:${spec.idType}})`;
}

function whereSql(where: Where, extra: string[] = []): string {
  const all = [...where.clauses, ...extra];
  return all.length ? `WHERE ${all.join(' AND ')}` : '';
}

/** Probe windows grow by this factor: 1 day, 8 days, 64 days, … then the whole range. */
const PROBE_FIRST_MS = 86_400_000;
const PROBE_GROWTH = 8;

/**
 * One page of `spec` under `where`, after `cursor` when given. With `range` (the time bounds
 * `where` already holds), a long range is probed from its start: the first day, then 8 days,
 * 64 days, …, then all of it, stopping at the first window that fills the page. That is exact
 * (every row past a window's end sorts after every row inside it) and turns a page of a busy
 * consumer over a month into a read of one day; a sparse one costs at most about 1.3 full reads.
 */
export async function listPage<T = Record<string, unknown>>(
  wh: Warehouse, spec: ListingSpec, where: Where,
  opts: { limit: number; cursor?: string | undefined; queryKey: string; range?: { fromMs: number; toMs: number } | undefined },
): Promise<Page<T>> {
  const after = opts.cursor ? decodeCursor(opts.cursor, opts.queryKey, spec.idType) : undefined;
  const params: Record<string, unknown> = { ...where.params, page_limit: opts.limit + 1 };
  const extra: string[] = [];
  if (after) {
    extra.push(afterClause(spec, 'after', '>'));
    params.after_ts = after.ts;
    params.after_id = after.id;
  }
  const probes: number[] = [];
  if (opts.range) {
    const start = Math.max(opts.range.fromMs, after?.ts ?? opts.range.fromMs);
    for (let w = PROBE_FIRST_MS; start + w < opts.range.toMs; w *= PROBE_GROWTH) probes.push(start + w);
  }
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i <= probes.length; i++) {
    const probe = probes[i];
    rows = await wh.query<Record<string, unknown>>(
      `SELECT ${spec.select}, toUnixTimestamp64Milli(ts) AS _pos_ts, toString(${spec.idColumn}) AS _pos_id
       FROM ${wh.table(spec.table)} ${whereSql(where, probe === undefined ? extra : [...extra, "ts < fromUnixTimestamp64Milli({probe_to:Int64}, 'UTC')"])}
       ORDER BY ts, ${spec.idColumn} LIMIT {page_limit:UInt32} ${LISTING_SETTINGS}`,
      probe === undefined ? params : { ...params, probe_to: probe },
    );
    if (rows.length > opts.limit) break;
  }
  const more = rows.length > opts.limit;
  if (more) rows.length = opts.limit;
  const last = rows[rows.length - 1];
  const next = more && last ? encodeCursor({ ts: Number(last._pos_ts), id: String(last._pos_id) }, opts.queryKey) : null;
  for (const r of rows) {
    delete r._pos_ts;
    delete r._pos_id;
  }
  return { rows: rows as T[], next_cursor: next };
}

/** A time window of an export and the rows it held when planned. */
export interface ExportWindow {
  readonly fromMs: number;
  readonly toMs: number;
  readonly rows: number;
}

/** What an export will read: its windows in time order and their total. */
export interface ExportPlan {
  readonly rows: number;
  readonly windows: readonly ExportWindow[];
  readonly chunkRows: number;
}

/** Most histogram buckets a plan reads (bounds the plan's own memory). */
const MAX_BUCKETS = 20_000;

/**
 * Plans an export: a histogram of the selected rows over time (two scans of the key and filter
 * columns), cut into consecutive windows of at most `chunkRows` rows. A single bucket denser
 * than that becomes a window of its own, read in keyset chunks.
 */
export async function planExport(wh: Warehouse, spec: ListingSpec, where: Where, chunkRows: number): Promise<ExportPlan> {
  const span = (await wh.query<{ lo: number; hi: number; n: number }>(
    `SELECT toUnixTimestamp64Milli(min(ts)) AS lo, toUnixTimestamp64Milli(max(ts)) AS hi, count() AS n
     FROM ${wh.table(spec.table)} ${whereSql(where)} ${LISTING_SETTINGS}`,
    where.params,
  ))[0];
  const total = Number(span?.n ?? 0);
  if (!span || total === 0) return { rows: 0, windows: [], chunkRows };
  const lo = Number(span.lo);
  const bucket = Math.max(1000, Math.ceil((Number(span.hi) - lo + 1) / MAX_BUCKETS));
  const hist = await wh.query<{ b: number; n: number }>(
    `SELECT intDiv(toUnixTimestamp64Milli(ts) - {plan_lo:Int64}, {plan_bucket:UInt64}) AS b, count() AS n
     FROM ${wh.table(spec.table)} ${whereSql(where)} GROUP BY b ORDER BY b ${LISTING_SETTINGS}`,
    { ...where.params, plan_lo: lo, plan_bucket: bucket },
  );
  const windows: ExportWindow[] = [];
  let cur: { from: number; to: number; rows: number } | undefined;
  for (const h of hist) {
    const from = lo + Number(h.b) * bucket;
    const n = Number(h.n);
    if (cur && cur.rows + n <= chunkRows) {
      cur.to = from + bucket;
      cur.rows += n;
      continue;
    }
    if (cur) windows.push({ fromMs: cur.from, toMs: cur.to, rows: cur.rows });
    cur = { from, to: from + bucket, rows: n };
  }
  if (cur) windows.push({ fromMs: cur.from, toMs: cur.to, rows: cur.rows });
  return { rows: total, windows, chunkRows };
}

function windowWhere(where: Where, w: ExportWindow): Where {
  return {
    clauses: [...where.clauses, "ts >= fromUnixTimestamp64Milli({win_from:Int64}, 'UTC')", "ts < fromUnixTimestamp64Milli({win_to:Int64}, 'UTC')"],
    params: { ...where.params, win_from: w.fromMs, win_to: w.toMs },
  };
}

/**
 * The rows of a plan in (ts, id) order as CSV (one header line) or JSON lines: one query per
 * window, and keyset chunks (the chunk's last position first, reading only the key columns)
 * inside a window denser than the chunk size.
 */
export async function* exportRows(
  wh: Warehouse, spec: ListingSpec, where: Where, plan: ExportPlan, format: ExportFormat,
): AsyncGenerator<Buffer, void, undefined> {
  let first = true;
  const read = async (w: Where, extra: string[], params: Record<string, unknown>): Promise<Readable> => {
    const fmt = format === 'jsonl' ? 'JSONEachRow' : first ? 'CSVWithNames' : 'CSV';
    first = false;
    return wh.stream(
      `SELECT ${format === 'jsonl' ? spec.select : spec.flatSelect} FROM ${wh.table(spec.table)} ${whereSql(w, extra)}
       ORDER BY ts, ${spec.idColumn} ${LISTING_SETTINGS}`,
      params,
      { format: fmt },
    );
  };
  if (plan.windows.length === 0 && format === 'csv') {
    for await (const piece of await read(where, ['0'], { ...where.params })) yield piece as Buffer; // the header alone
    return;
  }
  for (const win of plan.windows) {
    const w = windowWhere(where, win);
    if (win.rows <= plan.chunkRows) {
      for await (const piece of await read(w, [], { ...w.params })) yield piece as Buffer;
      continue;
    }
    let after: Position | undefined;
    for (;;) {
      const params: Record<string, unknown> = { ...w.params };
      const extra: string[] = [];
      if (after) {
        extra.push(afterClause(spec, 'after', '>'));
        params.after_ts = after.ts;
        params.after_id = after.id;
      }
      const bound = (await wh.query<{ t: number; id: string }>(
        `SELECT toUnixTimestamp64Milli(ts) AS t, toString(${spec.idColumn}) AS id FROM ${wh.table(spec.table)} ${whereSql(w, extra)}
         ORDER BY ts, ${spec.idColumn} LIMIT 1 OFFSET {chunk_last:UInt64} ${LISTING_SETTINGS}`,
        { ...params, chunk_last: plan.chunkRows - 1 },
      ))[0];
      if (bound) {
        extra.push(afterClause(spec, 'upto', '<='));
        params.upto_ts = Number(bound.t);
        params.upto_id = bound.id;
      }
      for await (const piece of await read(w, extra, params)) yield piece as Buffer;
      if (!bound) break;
      after = { ts: Number(bound.t), id: bound.id };
    }
  }
}
