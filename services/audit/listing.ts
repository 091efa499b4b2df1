/**
 * Keyset pagination and chunked export over a table ordered by (ts, id). A page is
 * `WHERE … AND (ts, id) > cursor ORDER BY ts, id LIMIT n+1` (never OFFSET: page 1000 costs what
 * page 1 costs and rows arriving meanwhile never shift a page). The cursor is opaque text holding
 * the last row's (ts, id) and a digest of the query, so a cursor cannot be replayed against
 * another filter. An export walks the same keyset in chunks of `chunkRows`, each its own query,
 * so memory stays bounded on either engine (the embedded engine materialises a query's whole
 * result before handing it over; a chunk is all it ever holds).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { AuditErrors } from './errors.ts';

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

/** Decodes a cursor made by {@link encodeCursor} for the same `queryKey`. @throws MLG_AUD_BAD_CURSOR */
export function decodeCursor(cursor: string, queryKey: string): Position {
  let v: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new Error('not base64url');
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw AuditErrors.badCursor('cursor is not one this API issued (pass next_cursor back unchanged)', { details: { field: 'cursor' } });
  }
  if (!Array.isArray(v) || v.length !== 3 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string' || v[1].length > 200 || typeof v[2] !== 'string') {
    throw AuditErrors.badCursor('cursor is malformed (pass next_cursor back unchanged)', { details: { field: 'cursor' } });
  }
  if (v[2] !== digest(queryKey)) {
    throw AuditErrors.badCursor('cursor belongs to another query: keep the filter unchanged while paging', { details: { field: 'cursor' } });
  }
  return { ts: v[0] as number, id: v[1] };
}

function afterClause(spec: ListingSpec, prefix: string, op: '>' | '<='): string {
  return `(ts, ${spec.idColumn}) ${op} (fromUnixTimestamp64Milli({${prefix}_ts:Int64}, 'UTC'), {${prefix}_id:${spec.idType}})`;
}

function whereSql(where: Where, extra: string[] = []): string {
  const all = [...where.clauses, ...extra];
  return all.length ? `WHERE ${all.join(' AND ')}` : '';
}

/** One page of `spec` under `where`, after `cursor` when given. */
export async function listPage<T = Record<string, unknown>>(
  wh: Warehouse, spec: ListingSpec, where: Where, opts: { limit: number; cursor?: string | undefined; queryKey: string },
): Promise<Page<T>> {
  const after = opts.cursor ? decodeCursor(opts.cursor, opts.queryKey) : undefined;
  const params: Record<string, unknown> = { ...where.params, page_limit: opts.limit + 1 };
  const extra: string[] = [];
  if (after) {
    extra.push(afterClause(spec, 'after', '>'));
    params.after_ts = after.ts;
    params.after_id = after.id;
  }
  const rows = await wh.query<Record<string, unknown>>(
    `SELECT ${spec.select}, toUnixTimestamp64Milli(ts) AS _pos_ts, toString(${spec.idColumn}) AS _pos_id
     FROM ${wh.table(spec.table)} ${whereSql(where, extra)}
     ORDER BY ts, ${spec.idColumn} LIMIT {page_limit:UInt32} ${LISTING_SETTINGS}`,
    params,
  );
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

/** Number of rows `where` selects. */
export async function countRows(wh: Warehouse, table: string, where: Where): Promise<number> {
  const rows = await wh.query<{ n: number }>(`SELECT count() AS n FROM ${wh.table(table)} ${whereSql(where)} ${LISTING_SETTINGS}`, where.params);
  return Number(rows[0]?.n ?? 0);
}

/**
 * The rows of `spec` under `where` in (ts, id) order as CSV (with a header line) or JSON lines,
 * one chunk query at a time: first the position of the chunk's last row (reads only the key
 * columns), then the chunk itself.
 */
export async function* exportRows(
  wh: Warehouse, spec: ListingSpec, where: Where, opts: { format: ExportFormat; chunkRows: number },
): AsyncGenerator<Buffer, void, undefined> {
  let after: Position | undefined;
  for (let chunk = 0; ; chunk++) {
    const params: Record<string, unknown> = { ...where.params };
    const extra: string[] = [];
    if (after) {
      extra.push(afterClause(spec, 'after', '>'));
      params.after_ts = after.ts;
      params.after_id = after.id;
    }
    const bound = (await wh.query<{ t: number; id: string }>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, toString(${spec.idColumn}) AS id FROM ${wh.table(spec.table)} ${whereSql(where, extra)}
       ORDER BY ts, ${spec.idColumn} LIMIT 1 OFFSET {chunk_last:UInt64} ${LISTING_SETTINGS}`,
      { ...params, chunk_last: opts.chunkRows - 1 },
    ))[0];
    if (bound) {
      extra.push(afterClause(spec, 'upto', '<='));
      params.upto_ts = Number(bound.t);
      params.upto_id = bound.id;
    }
    const format = opts.format === 'jsonl' ? 'JSONEachRow' : chunk === 0 ? 'CSVWithNames' : 'CSV';
    const stream: Readable = await wh.stream(
      `SELECT ${opts.format === 'jsonl' ? spec.select : spec.flatSelect} FROM ${wh.table(spec.table)} ${whereSql(where, extra)}
       ORDER BY ts, ${spec.idColumn} ${LISTING_SETTINGS}`,
      params,
      { format },
    );
    for await (const piece of stream) yield piece as Buffer;
    if (!bound) return;
    after = { ts: Number(bound.t), id: bound.id };
  }
}
