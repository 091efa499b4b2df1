/**
 * Database and table names are the one part of mlgate's SQL that cannot be a query parameter in
 * every statement (DDL, `INSERT INTO`), so they are restricted to plain identifiers and checked
 * before they reach SQL text. Values always travel as query parameters.
 */
import { WarehouseErrors } from './errors.ts';

/** A plain ClickHouse identifier: letters, digits, underscore; not starting with a digit. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,126}$/;

/** Returns `name` when it is a plain identifier, else throws MLG_WH_BAD_IDENTIFIER naming `what`. */
export function identifier(name: string, what = 'identifier'): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw WarehouseErrors.badIdentifier(`${what} ${JSON.stringify(name)} must match ${IDENTIFIER.source}`);
  }
  return name;
}

/**
 * Replaces every `{db}` in `sql` with the validated database name. `{name:Type}` query
 * parameters are left alone (they always carry a type, `{db}` never does).
 */
export function withDatabase(sql: string, database: string): string {
  return sql.replaceAll('{db}', identifier(database, 'database'));
}
