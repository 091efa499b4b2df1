/**
 * Erasure of a consumer's or a data subject's records, and the check that nothing of them
 * remains. A selector picks the rows: a consumer id, an input hash (every request with that
 * payload), or a subject id whose keyed hash a configured `requests` column holds (the v1 event
 * has no such column: `audit.erasure.subjectColumn` is the extension point).
 *
 * Only `requests` holds per-request data; `requests_1m` holds counts per model and version (no
 * consumer, no hash) and keeps them, so served totals stay true; decisions, admin changes and the
 * ingest ledger hold none. The delete is a synchronous mutation (`ALTER TABLE … DELETE …
 * SETTINGS mutations_sync = 2`): it rewrites the parts that hold the rows, so the data leaves the
 * active parts before the call returns (not a lightweight delete, which only masks rows until a
 * merge). Every erasure, even of zero rows, is appended to the hash-chained `erasure_log` with the
 * selector's keyed hash, never its raw value.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Hasher } from '../telemetry/hash.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import type { ChainedWriter } from '../ledger/chained-writer.ts';
import { ERASURE_SELECTORS } from '../ledger/chained-tables.ts';
import { AuditErrors } from './errors.ts';
import { parseHash, parseName } from './filters.ts';
import { LISTING_SETTINGS } from './listing.ts';

/** What selects the rows to erase. `value` is a consumer id, an input hash, or a raw subject id. */
export interface ErasureSelector {
  readonly kind: (typeof ERASURE_SELECTORS)[number];
  readonly value: string;
}

/** What an erasure needs. */
export interface ErasureDeps {
  readonly wh: Warehouse;
  /** The erasure-log writer of this process. */
  readonly writer: ChainedWriter<'erasure_log'>;
  /** The telemetry hasher: hashes consumer and subject ids (required for those selectors). */
  readonly hasher?: Hasher | undefined;
  /** `requests` column holding `hasher.hashValue(subjectId)`, when configured. */
  readonly subjectColumn?: string | undefined;
  readonly now?: () => number;
}

/** Rows per table. */
export type TableCounts = Record<string, number>;

/** A selector resolved to its column, bound value and logged hash. */
interface Resolved {
  kind: ErasureSelector['kind'];
  column: string;
  value: string;
  selectorHash: string;
  hashKeyId: string;
}

function needHasher(deps: ErasureDeps, kind: string): Hasher {
  if (!deps.hasher) throw AuditErrors.noHasher(`erasure by ${kind} hashes the id for the erasure log: configure telemetry.hashing`);
  return deps.hasher;
}

/** Validates a selector and works out what it matches. */
export function resolveSelector(deps: ErasureDeps, sel: ErasureSelector): Resolved {
  if (!sel || !(ERASURE_SELECTORS as readonly string[]).includes(sel.kind)) {
    throw AuditErrors.badFilter(`selector kind ${JSON.stringify(sel?.kind)} is not one of ${ERASURE_SELECTORS.join(', ')}`, { details: { field: 'kind' } });
  }
  switch (sel.kind) {
    case 'input_hash': {
      const h = parseHash(sel.value, 'input_hash');
      return { kind: sel.kind, column: 'input_hash', value: h, selectorHash: h, hashKeyId: '' };
    }
    case 'consumer': {
      const id = parseName(sel.value, 'consumer');
      const hasher = needHasher(deps, 'consumer');
      return { kind: sel.kind, column: 'consumer_id', value: id, selectorHash: hasher.hashValue({ consumer_id: id }), hashKeyId: hasher.keyId };
    }
    case 'subject': {
      if (!deps.subjectColumn) {
        throw AuditErrors.noSubjectColumn('no subject column is configured (the v1 event has no subject field): erase by consumer or input hash, or set audit.erasure.subjectColumn');
      }
      const hasher = needHasher(deps, 'subject');
      const h = hasher.hashValue(parseName(sel.value, 'subject'));
      return { kind: sel.kind, column: deps.subjectColumn, value: h, selectorHash: h, hashKeyId: hasher.keyId };
    }
  }
}

async function requireColumn(wh: Warehouse, column: string): Promise<void> {
  const rows = await wh.query<{ type: string }>(
    "SELECT type FROM system.columns WHERE database = {db:String} AND table = 'requests' AND name = {column:String}",
    { db: wh.database, column },
  );
  if (!rows[0]) throw AuditErrors.schemaMissing(`requests has no column ${column} (audit.erasure.subjectColumn)`);
  if (!/String/.test(rows[0].type)) throw AuditErrors.schemaMissing(`requests.${column} is ${rows[0].type}; a subject column must hold the hash as a String`);
}

async function remaining(wh: Warehouse, r: Resolved): Promise<TableCounts> {
  await requireColumn(wh, r.column);
  const rows = await wh.query<{ n: string }>(`SELECT toString(count()) AS n FROM ${wh.table('requests')} WHERE ${r.column} = {v:String}`, { v: r.value });
  return { requests: Number(rows[0]?.n ?? 0) };
}

/** The selected rows at or before `atMs` and after it. */
async function splitAt(wh: Warehouse, r: Resolved, atMs: number): Promise<{ before: TableCounts; after: TableCounts }> {
  await requireColumn(wh, r.column);
  const rows = await wh.query<{ b: string; a: string }>(
    `SELECT toString(countIf(ts <= fromUnixTimestamp64Milli({t:Int64}, 'UTC'))) AS b, toString(countIf(ts > fromUnixTimestamp64Milli({t:Int64}, 'UTC'))) AS a
     FROM ${wh.table('requests')} WHERE ${r.column} = {v:String}`,
    { v: r.value, t: atMs },
  );
  return { before: { requests: Number(rows[0]?.b ?? 0) }, after: { requests: Number(rows[0]?.a ?? 0) } };
}

/** What {@link erase} did. */
export interface ErasureResult {
  /** The erasure-log row as stored (with its chain columns). */
  readonly record: Record<string, unknown>;
  readonly deleted: TableCounts;
  readonly remaining: TableCounts;
}

/**
 * Deletes the selected rows, checks none remain, and appends the erasure to the log.
 * @throws MLG_AUD_ERASURE_INCOMPLETE (after logging) when rows remain, MLG_AUD_* for a bad selector.
 */
export async function erase(deps: ErasureDeps, sel: ErasureSelector, who: { actor: string; reason?: string | undefined }): Promise<ErasureResult> {
  const actor = parseName(who.actor, 'actor');
  const reason = who.reason ?? '';
  if (reason.length > 10_000) throw AuditErrors.badFilter('reason: at most 10000 characters', { details: { field: 'reason' } });
  const r = resolveSelector(deps, sel);
  const before = await remaining(deps.wh, r);
  if (before.requests > 0) {
    await deps.wh.command(`ALTER TABLE ${deps.wh.table('requests')} DELETE WHERE ${r.column} = {v:String} SETTINGS mutations_sync = 2`, { v: r.value });
  }
  const after = await remaining(deps.wh, r);
  const deleted = { requests: Math.max(0, before.requests - after.requests) };
  const record = await deps.writer.append({
    erasure_id: uuidv7(), ts: (deps.now ?? Date.now)(), actor, selector_kind: r.kind, selector_hash: r.selectorHash, hash_key_id: r.hashKeyId,
    reason, rows_deleted: JSON.stringify(deleted), rows_remaining: JSON.stringify(after),
  });
  if (after.requests > 0) {
    throw AuditErrors.erasureIncomplete(`${after.requests} request row(s) of the ${r.kind} remain after the delete (erasure ${String(record.erasure_id)}); rows may still be arriving: stop the traffic and erase again`, {
      details: { erasure_id: record.erasure_id, remaining: after },
    });
  }
  return { record, deleted, remaining: after };
}

/** What {@link verifyErasure} found. */
export interface ErasureCheck {
  readonly selector_kind: ErasureSelector['kind'];
  readonly selector_hash: string;
  /**
   * Rows per table the newest erasure should have removed: those whose event time is at or before
   * it (all of the selector's rows when none is logged). All zero = nothing of it remains.
   */
  readonly remaining: TableCounts;
  /**
   * Rows per table from after the newest erasure: later traffic of the consumer or payload, which
   * the erasure does not cover (the ingester stores it too). Not a failure; absent when no erasure
   * is logged.
   */
  readonly since_erasure?: TableCounts;
  readonly ok: boolean;
  /** Erasure-log rows for this selector, oldest first. */
  readonly erasures: Record<string, unknown>[];
}

/**
 * Counts what remains of a subject in every table that can hold it (what its newest erasure covers:
 * rows at or before it), the rows since, and lists its erasures.
 */
export async function verifyErasure(deps: Omit<ErasureDeps, 'writer'>, sel: ErasureSelector): Promise<ErasureCheck> {
  const r = resolveSelector(deps as ErasureDeps, sel);
  const log = await deps.wh.query<Record<string, unknown>>(
    `SELECT erasure_id, concat(replaceOne(toString(ts), ' ', 'T'), 'Z') AS ts, toString(toUnixTimestamp64Milli(ts)) AS ts_ms, actor, selector_kind, rows_deleted, rows_remaining, chain_id, seq, hash
     FROM ${deps.wh.table('erasure_log')} WHERE selector_hash = {h:String} ORDER BY ts, erasure_id
     ${LISTING_SETTINGS}`,
    { h: r.selectorHash },
  );
  const newest = log.reduce((m, e) => Math.max(m, Number(e.ts_ms)), -Infinity);
  const erasures = log.map(({ ts_ms: _ms, ...e }) => e);
  // What an erasure covers is what the ingester's filter applies: events at or before its time.
  const split = Number.isFinite(newest) ? await splitAt(deps.wh, r, newest) : null;
  const left = split ? split.before : await remaining(deps.wh, r);
  return {
    selector_kind: r.kind, selector_hash: r.selectorHash, remaining: left, ...(split ? { since_erasure: split.after } : {}),
    ok: Object.values(left).every((n) => n === 0), erasures,
  };
}
