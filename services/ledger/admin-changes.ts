/**
 * Admin changes: every change an operator makes through an admin API (weights, trip, reset,
 * reload, consumers and API key hashes) is recorded with who, what and when, before it takes effect. This is the port; the
 * in-memory adapter lives here, a ClickHouse one (table `admin_changes`) with the warehouse work.
 */

/** What an admin did. */
export const ADMIN_ACTIONS = ['set_weights', 'trip', 'reset', 'reload', 'consumer.upsert', 'consumer.remove', 'key.add', 'key.revoke'] as const;
/** One of {@link ADMIN_ACTIONS}. */
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** One recorded change. Plain JSON: safe to serialise as is. */
export interface AdminChange {
  /** UUIDv7 of the change; also the `cause.id` of the routing state it produced. */
  id: string;
  /** Who made it (the admin API's actor name). Never a token. */
  actor: string;
  action: AdminAction;
  /** What it changed: `model`, `model/version`, `config`, `consumer:<id>` or `key:<key id>`. */
  target: string;
  /** State before (JSON value; e.g. the routing state; a consumer with key ids only, never hashes or keys), or null. */
  before: unknown;
  /** State after (JSON value), or null. */
  after: unknown;
  /** When, ms since the epoch. */
  at: number;
  /** Why, as given by the admin ('' when none). */
  reason: string;
}

/** The admin-change chain id of a gateway id (chain ids allow 1-64 of letters, digits and ._-). */
export function adminChainId(gatewayId: string): string {
  return gatewayId.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'gateway';
}

/** Records admin changes. A rejection means "not recorded": the caller must not apply the change. */
export interface AdminChangeRecorder {
  record(change: AdminChange): Promise<void>;
}

/** Keeps changes in memory (newest last), bounded. For tests, embedded mode and `GET /admin/changes`. */
export class MemoryAdminChangeRecorder implements AdminChangeRecorder {
  /** Recorded changes, oldest first. */
  readonly changes: AdminChange[] = [];

  /** @param limit most changes kept; older ones are dropped first. */
  constructor(private readonly limit = 10_000) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error('MemoryAdminChangeRecorder: limit must be a positive integer');
  }

  async record(change: AdminChange): Promise<void> {
    // A deep copy through JSON proves the change is serialisable and detaches it from live objects.
    this.changes.push(JSON.parse(JSON.stringify(change)) as AdminChange);
    if (this.changes.length > this.limit) this.changes.splice(0, this.changes.length - this.limit);
  }
}
