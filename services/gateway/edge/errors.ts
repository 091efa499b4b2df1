/**
 * Error codes of the gateway edge. 401/403/429 reuse the gateway's catalogue
 * (MLG_GW_UNAUTHORIZED, MLG_GW_FORBIDDEN, MLG_GW_RATE_LIMITED) so outcomes stay one mapping;
 * a token budget's 429 has its own code (and outcome `token_budget`, gateway/errors.ts).
 */
import { defineError } from '../../core/errors.ts';

/** Edge errors. */
export const EdgeErrors = {
  schemaInvalid: defineError('MLG_EDGE_SCHEMA_INVALID'),
  setup: defineError('MLG_EDGE_SETUP'),
  tokenBudget: defineError('MLG_EDGE_TOKEN_BUDGET'),
} as const;
