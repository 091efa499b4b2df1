/**
 * Audit hash chains (services/ledger/chain.ts): `chain_id` (the writer) and `seq` (1, 2, … per
 * chain) on the two append-only tables, next to the `prev_hash`/`hash` columns they already
 * reserve, and the admin's `reason` on `admin_changes` (the AdminChange port carries one).
 * Rows written before this migration keep chain_id '' and are reported as unchained by
 * `mlgate audit verify`.
 */
import type { Migration } from './types.ts';

/** Migration 100. */
export const migration: Migration = {
  id: 100,
  name: 'audit_chains',
  description: 'chain_id and seq on canary_decisions and admin_changes (audit hash chains), reason on admin_changes',
  up: (ctx) => [
    `ALTER TABLE {db}.canary_decisions${ctx.onCluster}
    ADD COLUMN IF NOT EXISTS chain_id LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS seq UInt64 DEFAULT 0`,
    `ALTER TABLE {db}.admin_changes${ctx.onCluster}
    ADD COLUMN IF NOT EXISTS reason String DEFAULT '',
    ADD COLUMN IF NOT EXISTS chain_id LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS seq UInt64 DEFAULT 0`,
  ],
};
