/**
 * `requests.tokens_estimated`: true when the gateway counted the row's tokens with its tokenizer
 * because the upstream reported no usage (docs/llm.md, "Estimated tokens"); its `cost_usd` then
 * rests on the estimate too. False on rows with reported usage, without tokens, and on rows
 * written before the field existed.
 */
import type { Migration } from './types.ts';

/** Migration 9. */
export const migration: Migration = {
  id: 9,
  name: 'requests_tokens_estimated',
  description: 'requests.tokens_estimated: the token counts were estimated by the gateway, not reported by the upstream',
  up: (ctx) => [
    `ALTER TABLE {db}.requests${ctx.onCluster} ADD COLUMN IF NOT EXISTS tokens_estimated Bool DEFAULT false AFTER cost_usd`,
  ],
};
