/**
 * What a migration module exports, and what its statements may refer to. Statements use the
 * `{db}` placeholder for the database; TTL clauses come from {@link MigrationContext.ttl} so that
 * retention stays a configuration value. Every statement must be safe to run twice
 * (`IF NOT EXISTS` / `IF EXISTS`), because a migration that failed half-way is rerun whole.
 */
import type { Retention } from '../config.ts';

/** Values a migration's statements may depend on. */
export interface MigrationContext {
  /** Retention per table (days, or null for none). */
  readonly retention: Retention;
  /** `non_replicated_deduplication_window` for tables written by retried inserts. */
  readonly dedupWindow: number;
  /**
   * The TTL clause for a retention key, e.g. `TTL toDateTime(ts) + INTERVAL 30 DAY`, or `''` when
   * that key keeps rows forever. `expr` is the table's DateTime expression.
   */
  ttl(key: keyof Retention, expr: string): string;
}

/** One numbered schema change. */
export interface Migration {
  /** Unique, positive; migrations run in ascending id order. */
  readonly id: number;
  /** Short name, e.g. `requests` (the file is `0001_requests.ts`). */
  readonly name: string;
  /** One sentence for `mlgate migrate --status` and the migrations table. */
  readonly description: string;
  /** Statements, run in order; each may contain `{db}`. */
  readonly up: readonly string[] | ((ctx: MigrationContext) => readonly string[]);
}
