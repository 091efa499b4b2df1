/**
 * ClickHouse-backed writers for the append-only `canary_decisions` and `admin_changes` tables.
 * Rows are validated before they are sent (a bad row fails here with the field's path, not as a
 * ClickHouse parse error), and each insert carries a deduplication token derived from the row
 * ids, so a write retried after a timeout is stored once.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CoreErrors } from '../core/errors.ts';
import { formatIssues } from '../core/config.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';

const json = z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
  .transform((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
const id = z.string().min(1).max(200);
const ms = z.number().int().positive('expected ms since the epoch');

/**
 * Actions a decision row may carry (`manual_*` for operator actions): what controller/service/decision-rows.ts
 * writes. Checked on write only: verifying the ledger rehashes stored rows as they are. Readers
 * show them in the controller's vocabulary through ledger/decision-actions.ts.
 */
export const DECISION_ACTION = /^(promote|rollback|pause|wait|manual_[a-z_]+)$/;

/** Schema of a `canary_decisions` row. */
export const CanaryDecisionRowSchema = z.strictObject({
  decision_id: id,
  /** Decision time, ms since the epoch. */
  ts: ms,
  rollout_id: id,
  model: z.string().min(1).max(200),
  stable_version: z.string().max(200),
  canary_version: z.string().max(200),
  /** Index of the weight step the rollout was at. */
  step: z.number().int().min(0).max(65535),
  weight_before: z.number().min(0).max(100),
  weight_after: z.number().min(0).max(100),
  action: z.string().regex(DECISION_ACTION, 'expected promote|rollback|pause|wait|manual_*'),
  reason: z.string().max(10_000),
  /** The evidence as JSON (an object is serialized). */
  evidence: json,
  actor: z.string().min(1).max(200),
  /** Routing generation this decision produced (0 when none). */
  generation: z.number().int().min(0).default(0),
  prev_hash: z.string().max(128).default(''),
  hash: z.string().max(128).default(''),
});

/** A canary decision as the controller writes it. */
export type CanaryDecisionRow = z.input<typeof CanaryDecisionRowSchema>;

/** Schema of an `admin_changes` row. */
export const AdminChangeRowSchema = z.strictObject({
  change_id: id,
  /** Change time, ms since the epoch. */
  ts: ms,
  actor: z.string().min(1).max(200),
  action: z.string().min(1).max(100),
  target: z.string().max(500),
  /** State before the change, as JSON (an object is serialized). */
  before: json,
  /** State after the change, as JSON. */
  after: json,
  generation: z.number().int().min(0).default(0),
  prev_hash: z.string().max(128).default(''),
  hash: z.string().max(128).default(''),
});

/** An admin change as the gateway's admin API writes it. */
export type AdminChangeRow = z.input<typeof AdminChangeRowSchema>;

function validate<S extends z.ZodType>(schema: S, rows: readonly unknown[], what: string): Array<z.output<S>> {
  return rows.map((row, i) => {
    const r = schema.safeParse(row);
    if (!r.success) throw CoreErrors.badArgument(`invalid ${what} row ${i}: ${formatIssues(r.error.issues)}`);
    return r.data;
  });
}

function token(kind: string, ids: readonly string[]): string {
  return `${kind}:${createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 40)}`;
}

/** Appends canary decisions. @throws MLG_CORE_BAD_ARGUMENT for an invalid row, MLG_WH_* from ClickHouse. */
export async function recordCanaryDecisions(wh: Warehouse, rows: readonly CanaryDecisionRow[]): Promise<void> {
  if (rows.length === 0) return;
  const valid = validate(CanaryDecisionRowSchema, rows, 'canary decision');
  await wh.insert('canary_decisions', valid, { dedupToken: token('cd', valid.map((r) => r.decision_id)) });
}

/** Appends admin changes. @throws MLG_CORE_BAD_ARGUMENT for an invalid row, MLG_WH_* from ClickHouse. */
export async function recordAdminChanges(wh: Warehouse, rows: readonly AdminChangeRow[]): Promise<void> {
  if (rows.length === 0) return;
  const valid = validate(AdminChangeRowSchema, rows, 'admin change');
  await wh.insert('admin_changes', valid, { dedupToken: token('ac', valid.map((r) => r.change_id)) });
}

/** A writer bound to one warehouse, for callers that hold it as a port. */
export interface WarehouseRecorder {
  recordCanaryDecision(row: CanaryDecisionRow): Promise<void>;
  recordAdminChange(row: AdminChangeRow): Promise<void>;
}

/** Binds the writers to `wh`. */
export function createWarehouseRecorder(wh: Warehouse): WarehouseRecorder {
  return {
    recordCanaryDecision: (row) => recordCanaryDecisions(wh, [row]),
    recordAdminChange: (row) => recordAdminChanges(wh, [row]),
  };
}
