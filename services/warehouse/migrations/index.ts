/**
 * The migration registry. mlgate's own migrations are listed here in id order; another area adds
 * its tables by adding a `NNNN_<name>.ts` module in this folder and one line to BUILT_IN (see
 * docs/warehouse.md), or, for code outside the repository's schema, by calling
 * {@link registerMigration} before `migrate()` runs.
 */
import { WarehouseErrors } from '../errors.ts';
import type { Migration } from './types.ts';
import { migration as m0001 } from './0001_requests.ts';
import { migration as m0002 } from './0002_requests_1m.ts';
import { migration as m0003 } from './0003_canary_decisions.ts';
import { migration as m0004 } from './0004_admin_changes.ts';
import { migration as m0005 } from './0005_ingest_ledger.ts';
import { migration as m0006 } from './0006_requests_upstream_model.ts';
import { migration as m0007 } from './0007_requests_token_timing.ts';
import { migration as m0008 } from './0008_requests_cost.ts';
import { migration as m0009 } from './0009_requests_tokens_estimated.ts';
import { migration as m0010 } from './0010_ingest_claims.ts';
import { migration as m0100 } from './0100_audit_chains.ts';
import { migration as m0101 } from './0101_erasure_log.ts';
import { migration as m0200 } from './0200_controller_rollouts.ts';

export type { Migration, MigrationContext } from './types.ts';

const BUILT_IN: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008, m0009, m0010, m0100, m0101, m0200];

const extra: Migration[] = [];

function check(m: Migration, taken: ReadonlySet<number>): void {
  if (!Number.isInteger(m.id) || m.id <= 0) throw WarehouseErrors.migrationInvalid(`migration ${m.name}: id ${m.id} must be a positive integer`);
  if (!/^[a-z0-9_]{1,100}$/.test(m.name)) throw WarehouseErrors.migrationInvalid(`migration ${m.id}: name ${JSON.stringify(m.name)} must be lower_snake_case`);
  if (taken.has(m.id)) throw WarehouseErrors.migrationInvalid(`migration id ${m.id} (${m.name}) is already taken`);
  if (!m.description) throw WarehouseErrors.migrationInvalid(`migration ${m.id} (${m.name}) has no description`);
}

/** Adds a migration to the registry. Throws MLG_WH_MIGRATION_INVALID if its id is taken or it is malformed. */
export function registerMigration(m: Migration): void {
  check(m, new Set(allMigrations().map((x) => x.id)));
  extra.push(m);
}

/** Every known migration, in ascending id order. */
export function allMigrations(): Migration[] {
  return [...BUILT_IN, ...extra].sort((a, b) => a.id - b.id);
}

/** Validates the built-in list (ids unique, names well formed); run by the tests and by migrate(). */
export function validateRegistry(list: readonly Migration[] = allMigrations()): void {
  const seen = new Set<number>();
  for (const m of list) {
    check(m, seen);
    seen.add(m.id);
  }
}
