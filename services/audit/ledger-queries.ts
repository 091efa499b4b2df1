/**
 * Audit queries on the chained tables: a rollout's decisions with their evidence, admin changes,
 * and the erasure log. Rows come with their chain columns (chain_id, seq, prev_hash, hash) so a
 * reader can check any row against `mlgate audit verify`. JSON columns (evidence, before, after,
 * rows_deleted, rows_remaining) are returned parsed. A decision's `action` is given in the
 * controller's vocabulary (ledger/decision-actions.ts), its stored value as `stored_action`
 * (what the chain hashes).
 */
import { actionOfRow, storedActionCondition, type DecisionActionName, type StoredDecisionAction } from '../ledger/decision-actions.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { listPage, type ListingSpec, type Page, type Where } from './listing.ts';
import { queryKey, type PageOptions } from './request-queries.ts';
import type { TimeRange } from './time-range.ts';

const iso = "concat(replaceOne(toString(ts), ' ', 'T'), 'Z') AS ts";
const CHAIN = 'chain_id, seq, prev_hash, hash';

function spec(table: string, idColumn: string, columns: string): ListingSpec {
  const select = `${idColumn}, ${iso}, ${columns}, ${CHAIN}`;
  return Object.freeze({ table, idColumn, idType: 'String', select, flatSelect: select });
}

/** `canary_decisions` listing. */
export const DECISIONS = spec('canary_decisions', 'decision_id',
  'rollout_id, model, stable_version, canary_version, step, weight_before, weight_after, action, reason, evidence, actor, generation');
/** `admin_changes` listing. */
export const ADMIN_CHANGES = spec('admin_changes', 'change_id', 'actor, action, target, reason, before, after, generation');
/** `erasure_log` listing. */
export const ERASURES = spec('erasure_log', 'erasure_id',
  'actor, selector_kind, selector_hash, hash_key_id, reason, rows_deleted, rows_remaining');

function parseJsonColumns<T extends Record<string, unknown>>(page: Page<T>, columns: readonly string[]): Page<T> {
  for (const row of page.rows) {
    for (const c of columns) {
      const v = row[c];
      if (typeof v !== 'string' || v === '') continue;
      try {
        (row as Record<string, unknown>)[c] = JSON.parse(v);
      } catch {
        /* not JSON: keep the text as stored */
      }
    }
  }
  return page;
}

function build(eq: ReadonlyArray<readonly [column: string, value: string | undefined]>, range: TimeRange | undefined): Where {
  const clauses: string[] = [];
  const params: Record<string, unknown> = {};
  eq.forEach(([column, value], i) => {
    if (value === undefined) return;
    clauses.push(`${column} = {e_${i}:String}`);
    params[`e_${i}`] = value;
  });
  if (range) {
    clauses.push("ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')", "ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')");
    params.from_ms = range.fromMs;
    params.to_ms = range.toMs;
  }
  return { clauses, params };
}

/**
 * Every decision of rollout `rolloutId` (only those of `action` when given), oldest first, with
 * its evidence; `action` in the controller's vocabulary, the stored value as `stored_action`.
 */
export async function rolloutHistory(wh: Warehouse, rolloutId: string, page: PageOptions, action?: DecisionActionName): Promise<Page> {
  const where = build([['rollout_id', rolloutId]], undefined);
  if (action !== undefined) (where.clauses as string[]).push(`(${storedActionCondition(action)})`);
  const result = parseJsonColumns(await listPage(wh, DECISIONS, where, { ...page, queryKey: queryKey('rollout', where) }), ['evidence']);
  for (const row of result.rows as Array<Record<string, unknown>>) {
    const stored = row.action;
    row.action = actionOfRow(row as unknown as StoredDecisionAction);
    row.stored_action = stored;
  }
  return result;
}

/** Filter of {@link adminChanges}. */
export interface AdminChangeFilter {
  range: TimeRange;
  actor?: string | undefined;
  action?: string | undefined;
  /** Exact target (`model`, `model/version` or `config`). */
  target?: string | undefined;
  /** Changes to this model or any of its versions. */
  model?: string | undefined;
}

/** Admin changes in a range, oldest first, with the state before and after. */
export async function adminChanges(wh: Warehouse, f: AdminChangeFilter, page: PageOptions): Promise<Page> {
  const where = build([['actor', f.actor], ['action', f.action], ['target', f.target]], f.range);
  if (f.model !== undefined) {
    (where.clauses as string[]).push("(target = {model:String} OR startsWith(target, concat({model:String}, '/')))");
    (where.params as Record<string, unknown>).model = f.model;
  }
  return parseJsonColumns(await listPage(wh, ADMIN_CHANGES, where, { ...page, queryKey: queryKey('admin', where) }), ['before', 'after']);
}

/** Erasures in a range, oldest first. */
export async function erasures(wh: Warehouse, f: { range: TimeRange; actor?: string | undefined; selectorHash?: string | undefined }, page: PageOptions): Promise<Page> {
  const where = build([['actor', f.actor], ['selector_hash', f.selectorHash]], f.range);
  return parseJsonColumns(await listPage(wh, ERASURES, where, { ...page, queryKey: queryKey('erasures', where) }), ['rows_deleted', 'rows_remaining']);
}
