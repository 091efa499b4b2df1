/**
 * Error catalogue of the audit area (`MLG_AUD_*`): bad audit input, authorization, chain
 * integrity, erasure and export limits. Codes are stable: add new ones, never reuse one. The
 * chain codes (and bad options) are defined by the ledger (services/ledger/errors.ts), which the
 * audit reads and the controller and gateways write through.
 */
import { defineError } from '../core/errors.ts';
import { LedgerErrors } from '../ledger/errors.ts';

/** The audit error codes. */
export const AuditErrors = {
  badFilter: defineError('MLG_AUD_BAD_FILTER'),
  badTimeRange: defineError('MLG_AUD_BAD_TIME_RANGE'),
  badCursor: defineError('MLG_AUD_BAD_CURSOR'),
  notFound: defineError('MLG_AUD_NOT_FOUND'),
  unauthorized: defineError('MLG_AUD_UNAUTHORIZED'),
  forbidden: defineError('MLG_AUD_FORBIDDEN'),
  badOptions: LedgerErrors.badOptions,
  noHasher: defineError('MLG_AUD_NO_HASHER'),
  noSubjectColumn: defineError('MLG_AUD_NO_SUBJECT_COLUMN'),
  schemaMissing: defineError('MLG_AUD_SCHEMA_MISSING'),
  chainConflict: LedgerErrors.chainConflict,
  badRow: LedgerErrors.badRow,
  erasureIncomplete: defineError('MLG_AUD_ERASURE_INCOMPLETE'),
  internal: defineError('MLG_AUD_INTERNAL'),
  rateLimited: defineError('MLG_AUD_RATE_LIMITED'),
  exportTooLarge: defineError('MLG_AUD_EXPORT_TOO_LARGE'),
} as const;
