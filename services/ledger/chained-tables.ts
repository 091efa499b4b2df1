/**
 * The three chained tables: their hashing layouts (chain.ts) and the schemas a row must pass
 * before a chained writer appends it. `canary_decisions` and `admin_changes` reuse the
 * warehouse's row schemas (the chain columns are the writer's to fill); `erasure_log` is the
 * audit's own table (migration 0101).
 */
import { z } from 'zod';
import { AdminChangeRowSchema, CanaryDecisionRowSchema } from './rows.ts';
import type { ChainLayout } from './chain.ts';

/** Tables that carry a hash chain. */
export const CHAINED_TABLES = ['canary_decisions', 'admin_changes', 'erasure_log'] as const;
/** One of {@link CHAINED_TABLES}. */
export type ChainedTable = (typeof CHAINED_TABLES)[number];

const ms = z.number().int().positive('expected ms since the epoch');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters');

/** What selects the rows an erasure deletes. */
export const ERASURE_SELECTORS = ['consumer', 'input_hash', 'subject'] as const;

/** Schema of an `erasure_log` row (content only; the writer adds the chain columns). */
export const ErasureLogRowSchema = z.strictObject({
  erasure_id: z.string().min(1).max(200),
  /** When the erasure finished, ms since the epoch. */
  ts: ms,
  /** Who asked for it (the API token's name, or the CLI's --actor). */
  actor: z.string().min(1).max(200),
  selector_kind: z.enum(ERASURE_SELECTORS),
  /** Keyed hash of the selector value: never the raw consumer or subject id. */
  selector_hash: hex64,
  /** Key id of the hash (empty for an input hash, which is already keyed). */
  hash_key_id: z.string().max(100),
  reason: z.string().max(10_000),
  /** Rows deleted per table, as JSON (`{"requests": 123}`). */
  rows_deleted: z.string().max(10_000),
  /** Rows of the subject left per table after the delete, as JSON (all zero when complete). */
  rows_remaining: z.string().max(10_000),
});

/** An erasure-log row as the erasure code writes it. */
export type ErasureLogRow = z.input<typeof ErasureLogRowSchema>;

const CanaryDecisionContent = CanaryDecisionRowSchema.omit({ prev_hash: true, hash: true });
const AdminChangeContent = AdminChangeRowSchema.omit({ prev_hash: true, hash: true }).extend({
  /** Why, as the admin gave it ('' when none). Column added by migration 0100. */
  reason: z.string().max(10_000).default(''),
});

/** Input row types of each chained table. */
export interface ChainRowInput {
  canary_decisions: z.input<typeof CanaryDecisionContent>;
  admin_changes: z.input<typeof AdminChangeContent>;
  erasure_log: ErasureLogRow;
}

/** Layout and schema of one chained table. */
export interface ChainTableSpec extends ChainLayout {
  readonly table: ChainedTable;
  /** Validates (and normalises, e.g. evidence objects to JSON text) a content row. */
  readonly schema: z.ZodType<Record<string, unknown>>;
}

/** Every chained table's spec. Field order is the hashing order: never reorder, only append with a new CHAIN_FORMAT. */
export const CHAIN_SPECS: Readonly<Record<ChainedTable, ChainTableSpec>> = Object.freeze({
  canary_decisions: {
    table: 'canary_decisions',
    idColumn: 'decision_id',
    schema: CanaryDecisionContent as unknown as z.ZodType<Record<string, unknown>>,
    fields: [
      ['decision_id', 'string'], ['ts', 'ms'], ['rollout_id', 'string'], ['model', 'string'], ['stable_version', 'string'],
      ['canary_version', 'string'], ['step', 'int'], ['weight_before', 'float'], ['weight_after', 'float'], ['action', 'string'],
      ['reason', 'string'], ['evidence', 'string'], ['actor', 'string'], ['generation', 'uint64'],
    ],
  },
  admin_changes: {
    table: 'admin_changes',
    idColumn: 'change_id',
    schema: AdminChangeContent as unknown as z.ZodType<Record<string, unknown>>,
    fields: [
      ['change_id', 'string'], ['ts', 'ms'], ['actor', 'string'], ['action', 'string'], ['target', 'string'],
      ['before', 'string'], ['after', 'string'], ['generation', 'uint64'], ['reason', 'string'],
    ],
  },
  erasure_log: {
    table: 'erasure_log',
    idColumn: 'erasure_id',
    schema: ErasureLogRowSchema as unknown as z.ZodType<Record<string, unknown>>,
    fields: [
      ['erasure_id', 'string'], ['ts', 'ms'], ['actor', 'string'], ['selector_kind', 'string'], ['selector_hash', 'string'],
      ['hash_key_id', 'string'], ['reason', 'string'], ['rows_deleted', 'string'], ['rows_remaining', 'string'],
    ],
  },
});

/** SQL that reads a chained table's content fields in the kinds chain.ts normalises (ts as ms, UInt64 as text). */
export function chainSelectList(spec: ChainLayout): string {
  const cols = spec.fields.map(([name, kind]) => {
    if (kind === 'ms') return `toUnixTimestamp64Milli(${name}) AS ${name}`;
    if (kind === 'uint64') return `toString(${name}) AS ${name}`;
    return name;
  });
  return [...cols, 'chain_id', 'toString(seq) AS seq', 'prev_hash', 'hash'].join(', ');
}
