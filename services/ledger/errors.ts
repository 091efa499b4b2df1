/**
 * Error catalogue of the ledger (hash-chained tables and their writers). The codes keep the
 * `MLG_AUD_` prefix they had when the chains lived in the audit package: codes are an external
 * contract (runbooks and alerts grep them), so the move did not rename them. The audit catalogue
 * (services/audit/errors.ts) lists the same factories, so `AuditErrors.chainConflict` and
 * `LedgerErrors.chainConflict` are one error.
 */
import { defineError } from '../core/errors.ts';

/** The ledger's error codes. */
export const LedgerErrors = {
  badOptions: defineError('MLG_AUD_BAD_OPTIONS'),
  chainConflict: defineError('MLG_AUD_CHAIN_CONFLICT'),
  badRow: defineError('MLG_AUD_BAD_ROW'),
} as const;
