/**
 * The ClickHouse adapter of the gateway's AdminChangeRecorder port (services/ledger/
 * admin-changes.ts): each admin change becomes a hash-chained `admin_changes` row, on the chain
 * of this gateway (chain id = the gateway id). `record` resolves once the row is stored, so the
 * gateway applies a change only after it is on the record, as the port requires.
 */
import type { AdminChange, AdminChangeRecorder } from './admin-changes.ts';
import type { Logger } from '../core/log.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { createChainedWriter, type ChainedWriter } from './chained-writer.ts';

/** JSON text of a before/after state (`null` when there was none). */
const json = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v ?? null));

/** Maps a change to its row; the generation is the one the state after it carries (0 when none). */
export function adminChangeRow(c: AdminChange): Parameters<ChainedWriter<'admin_changes'>['append']>[0] {
  const gen = (c.after as { generation?: unknown } | null)?.generation;
  return {
    change_id: c.id, ts: c.at, actor: c.actor, action: c.action, target: c.target, before: json(c.before), after: json(c.after),
    generation: typeof gen === 'number' && Number.isInteger(gen) && gen >= 0 ? gen : 0, reason: c.reason ?? '',
  };
}

/** An AdminChangeRecorder writing to the `admin_changes` chain `chainId`. @throws MLG_AUD_BAD_OPTIONS for a bad chain id */
export function createChainedAdminChangeRecorder(wh: Warehouse, opts: { chainId: string; logger?: Logger }): AdminChangeRecorder & { readonly writer: ChainedWriter<'admin_changes'> } {
  const writer = createChainedWriter(wh, { table: 'admin_changes', chainId: opts.chainId, ...(opts.logger ? { logger: opts.logger } : {}) });
  return {
    writer,
    async record(change: AdminChange): Promise<void> {
      await writer.append(adminChangeRow(change));
    },
  };
}
