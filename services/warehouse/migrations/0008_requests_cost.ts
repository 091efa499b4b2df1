/**
 * `requests.cost_usd`: what a request cost at its version's `pricePerMillionTokens` (docs/llm.md,
 * "Cost"), in USD; NULL without a price or without both token counts, and on rows written before
 * the field existed. Not rolled up into `requests_1m`: cost is summed from `requests` (the
 * dashboard's panel, the audit), where a sum over any grouping is exact.
 */
import type { Migration } from './types.ts';

/** Migration 8. */
export const migration: Migration = {
  id: 8,
  name: 'requests_cost',
  description: 'requests.cost_usd: what the request cost at its version\'s price per million tokens',
  up: (ctx) => [
    `ALTER TABLE {db}.requests${ctx.onCluster} ADD COLUMN IF NOT EXISTS cost_usd Nullable(Float64) CODEC(ZSTD(1)) AFTER output_tps`,
  ],
};
