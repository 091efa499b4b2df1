/**
 * custom_sql metrics: the rollout spec's SQL runs once per arm and window with the values bound as
 * query parameters (never spliced into the text). The parameters it may use:
 *
 * | parameter                     | value                                            |
 * |-------------------------------|--------------------------------------------------|
 * | `{from:DateTime64(3, 'UTC')}` | window start, UTC text `YYYY-MM-DD hh:mm:ss.sss` |
 * | `{to:DateTime64(3, 'UTC')}`   | window end (exclusive)                           |
 * | `{from_ms:Int64}`, `{to_ms:Int64}` | the same in ms since the epoch              |
 * | `{model:String}`              | the rollout's model                              |
 * | `{version:String}`            | the arm's version (stable's, then canary's)      |
 * | `{rollout_id:String}`         | the rollout id                                   |
 *
 * and `{db}` for the database holding mlgate's tables (`FROM {db}.requests`). The statement must be
 * one SELECT (or WITH … SELECT); its first column of its first row is the value (NULL = no data).
 * Spec SQL comes from API callers with the operator role: they can read any table through it.
 */
import { ControllerErrors } from '../errors.ts';

/**
 * Checks that `sql` is a single SELECT statement.
 * @throws MLG_CTL_CUSTOM_SQL_INVALID naming the problem.
 */
export function checkCustomSql(sql: string, where = 'custom_sql'): string {
  const text = sql.trim().replace(/;\s*$/, '');
  if (!/^(select|with)\b/i.test(text)) throw ControllerErrors.customSqlInvalid(`${where}: must be a SELECT (or WITH ... SELECT) statement`);
  // A ';' outside quotes would start a second statement.
  const unquoted = text.replace(/'(?:[^'\\]|\\.)*'/g, "''").replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/`(?:[^`\\]|\\.)*`/g, '``');
  if (unquoted.includes(';')) throw ControllerErrors.customSqlInvalid(`${where}: must be a single statement (found ';')`);
  if (/\bSETTINGS\b/i.test(unquoted)) throw ControllerErrors.customSqlInvalid(`${where}: must not carry SETTINGS (they would outlive the query on the embedded engine)`);
  return text;
}

/** ClickHouse's DateTime64(3) text for `ms`, in UTC. */
export function utcText(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** The query parameters of one arm and window. */
export function customSqlParams(p: { from: number; to: number; model: string; version: string; rolloutId: string }): Record<string, string | number> {
  return { from: utcText(p.from), to: utcText(p.to), from_ms: p.from, to_ms: p.to, model: p.model, version: p.version, rollout_id: p.rolloutId };
}

/** The value of a custom query's result: first column of the first row, or undefined (no data). */
export function firstNumber(rows: readonly Record<string, unknown>[]): number | undefined {
  const row = rows[0];
  if (!row) return undefined;
  const v = Object.values(row)[0];
  if (v === null || v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}
