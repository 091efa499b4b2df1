/**
 * `requests.upstream_model`: the model name a version's upstream got on an OpenAI route (the
 * version's `upstreamModel`, else the public model), next to the public `model`. Events written
 * before the field existed read '' (the column default).
 */
import type { Migration } from './types.ts';

/** Migration 6. */
export const migration: Migration = {
  id: 6,
  name: 'requests_upstream_model',
  description: 'requests.upstream_model: the model name the upstream got (per-version upstream model)',
  up: (ctx) => [
    `ALTER TABLE {db}.requests${ctx.onCluster} ADD COLUMN IF NOT EXISTS upstream_model LowCardinality(String) DEFAULT '' AFTER cache`,
  ],
};
