/**
 * The names of decision actions, and the one place where a stored `canary_decisions` row's
 * `action` column is read as one of them.
 *
 * mlgate names a decision's action with the controller core's vocabulary everywhere it shows one
 * (the controller API, the rollout page, the demo's view, the audit CLI and API, metrics):
 * `start`, `wait`, `promote` (to the next step), `complete` (to 100%), `finish` (end of the
 * bake), `rollback`, `pause`, `resume`, `abort`.
 *
 * Rows store an older vocabulary: `complete` and `finish` as `promote` (with `weight_after` 100),
 * and operator actions as `manual_<operation>` (`manual_start`, `manual_pause`, `manual_resume`,
 * `manual_promote`, `manual_abort`). The rows are hash-chained and `mlgate audit verify` rehashes
 * them as stored, so they are never rewritten: {@link actionOfRow} maps a row to the core's name
 * when it is read, and every reader goes through it (SQL-only readers, the dashboards, through
 * {@link ACTION_SQL}, the same mapping as an expression). The stored names stay accepted as input
 * (aliases, {@link parseDecisionAction}).
 */

/** The decision actions, in the core's vocabulary (the one every output uses). */
export const DECISION_ACTIONS = ['start', 'wait', 'promote', 'complete', 'finish', 'rollback', 'pause', 'resume', 'abort'] as const;

/** A decision action. */
export type DecisionActionName = (typeof DECISION_ACTIONS)[number];

/** Stored names of operator actions and what each is in the core's vocabulary (`manual_promote` is resolved by weight). */
const STORED_MANUAL: Readonly<Record<string, DecisionActionName>> = {
  manual_start: 'start', manual_pause: 'pause', manual_resume: 'resume', manual_promote: 'promote', manual_abort: 'abort',
};

/** The columns of a `canary_decisions` row that name its action. */
export interface StoredDecisionAction {
  readonly action: string;
  readonly weight_before: number | string;
  readonly weight_after: number | string;
}

/**
 * The action of a stored decision row, in the core's vocabulary. A promotion (`promote` or
 * `manual_promote`) to 100% is `complete` from a lower weight and `finish` from 100% (the end of
 * the bake): the core never steps to 100% with `promote`. A name it does not know is returned as
 * stored, so nothing is hidden.
 */
export function actionOfRow(row: StoredDecisionAction): string {
  const stored = STORED_MANUAL[row.action] ?? row.action;
  if (stored !== 'promote') return stored;
  if (Number(row.weight_after) < 100) return 'promote';
  return Number(row.weight_before) >= 100 ? 'finish' : 'complete';
}

/**
 * {@link actionOfRow} as a ClickHouse expression over a `canary_decisions` row, for readers that
 * are SQL only (the Grafana dashboards select `${ACTION_SQL} AS action`). Tests hold the two equal
 * for every stored name, and every dashboard query on the table to this text.
 */
export const ACTION_SQL = "multiIf(action = 'manual_start', 'start', action = 'manual_pause', 'pause', action = 'manual_resume', 'resume', "
  + "action = 'manual_abort', 'abort', action IN ('promote', 'manual_promote'), multiIf(weight_after < 100, 'promote', weight_before >= 100, 'finish', 'complete'), action)";

/**
 * An action name given as input (a filter, an option): the core's names, and the stored names as
 * aliases (`manual_start` is `start`; `manual_promote` is `promote`). Undefined when unknown.
 */
export function parseDecisionAction(name: string): DecisionActionName | undefined {
  const n = STORED_MANUAL[name] ?? name;
  return (DECISION_ACTIONS as readonly string[]).includes(n) ? (n as DecisionActionName) : undefined;
}

/**
 * The SQL condition over `canary_decisions` selecting the rows whose action (as
 * {@link actionOfRow} reads it) is `action`: the inverse of the mapping, for filters.
 */
export function storedActionCondition(action: DecisionActionName): string {
  switch (action) {
    case 'start': return "action = 'manual_start'";
    case 'pause': return "action IN ('pause', 'manual_pause')";
    case 'resume': return "action = 'manual_resume'";
    case 'abort': return "action = 'manual_abort'";
    case 'promote': return "action IN ('promote', 'manual_promote') AND weight_after < 100";
    case 'complete': return "action IN ('promote', 'manual_promote') AND weight_after >= 100 AND weight_before < 100";
    case 'finish': return "action IN ('promote', 'manual_promote') AND weight_after >= 100 AND weight_before >= 100";
    case 'wait': return "action = 'wait'";
    case 'rollback': return "action = 'rollback'";
  }
}
