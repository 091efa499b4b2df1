/**
 * The gateway's admin changes recorded in ClickHouse (`admin_changes`, hash-chained by the audit's
 * chained writer with the gateway id as the chain id), so `mlgate audit admin-changes` and the
 * audit API show who changed what, when and why, and `mlgate audit verify` checks the chain.
 * A failed insert rejects, and the gateway then refuses the change (it is never applied unrecorded).
 */
import type { ChainedWriter } from '../audit/chained-writer.ts';
import { createChainedWriter } from '../audit/chained-writer.ts';
import type { AdminChange, AdminChangeRecorder } from '../control/admin-changes.ts';
import type { Logger } from '../core/log.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';

/** Chain ids allow 1-64 of letters, digits and ._-; gateway ids may hold other characters. */
function chainIdOf(gatewayId: string): string {
  const id = `gw-${gatewayId}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  return id || 'gw';
}

/** Records admin changes into `admin_changes`. */
export class ClickHouseAdminChangeRecorder implements AdminChangeRecorder {
  private readonly writer: ChainedWriter<'admin_changes'>;

  constructor(warehouse: Warehouse, gatewayId: string, logger?: Logger) {
    this.writer = createChainedWriter(warehouse, { table: 'admin_changes', chainId: chainIdOf(gatewayId), ...(logger ? { logger } : {}) });
  }

  async record(change: AdminChange): Promise<void> {
    const after = change.after as { generation?: unknown } | null;
    await this.writer.append({
      change_id: change.id,
      ts: change.at,
      actor: change.actor,
      action: change.action,
      target: change.target,
      before: JSON.stringify(change.before ?? null),
      after: JSON.stringify(change.after ?? null),
      generation: typeof after?.generation === 'number' ? after.generation : 0,
      reason: change.reason,
    });
  }
}
