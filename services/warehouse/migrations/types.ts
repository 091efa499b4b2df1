/**
 * What a migration module exports, and what its statements may refer to. Statements use the
 * `{db}` placeholder for the database; TTL clauses come from {@link MigrationContext.ttl} so that
 * retention stays a configuration value. Every statement must be safe to run twice
 * (`IF NOT EXISTS` / `IF EXISTS`), because a migration that failed half-way is rerun whole.
 *
 * Cluster mode is declared, not rewritten: every CREATE/ALTER/DROP names its table followed by
 * {@link MigrationContext.onCluster}, every table engine comes from {@link MigrationContext.engine}
 * and every deduplication window from {@link MigrationContext.dedupSetting}. On one server these
 * render exactly what the statements said before cluster mode existed.
 */
import type { ClusterConfig, Retention } from '../config.ts';

/** The MergeTree family: each has a `Replicated*` variant taking a Keeper path and a replica first. */
export type EngineFamily =
  | 'MergeTree'
  | 'ReplacingMergeTree'
  | 'AggregatingMergeTree'
  | 'SummingMergeTree'
  | 'CollapsingMergeTree'
  | 'VersionedCollapsingMergeTree';

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
  /** The cluster mode in force, or undefined on one server. */
  readonly cluster: ClusterConfig | undefined;
  /** `' ON CLUSTER <name>'` in cluster mode, else `''`; written right after the table name. */
  readonly onCluster: string;
  /**
   * The engine clause's value: `engine('MergeTree')` → `MergeTree`, `engine('ReplacingMergeTree',
   * 'seq')` → `ReplacingMergeTree(seq)`; replicated: `ReplicatedMergeTree('<zkPath>', '<replica>')`,
   * `ReplicatedReplacingMergeTree('<zkPath>', '<replica>', seq)`.
   */
  engine(family: EngineFamily, ...args: string[]): string;
  /**
   * The insert deduplication window setting: `non_replicated_deduplication_window = <dedupWindow>`,
   * or on replicated tables `replicated_deduplication_window = <dedupWindow>,
   * replicated_deduplication_window_seconds = <cluster.dedupWindowSeconds>`.
   */
  readonly dedupSetting: string;
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
