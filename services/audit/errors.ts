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
  badFilter: defineError('MLG_AUD_BAD_FILTER', 400, 'An audit filter is unknown, malformed or out of range'),
  badTimeRange: defineError('MLG_AUD_BAD_TIME_RANGE', 400, 'An audit time range is unparseable, empty, reversed or too long'),
  badCursor: defineError('MLG_AUD_BAD_CURSOR', 400, 'A pagination cursor is malformed or belongs to another query'),
  notFound: defineError('MLG_AUD_NOT_FOUND', 404, 'No record matches the given id'),
  unauthorized: defineError('MLG_AUD_UNAUTHORIZED', 401, 'The audit API needs a valid bearer token'),
  forbidden: defineError('MLG_AUD_FORBIDDEN', 403, 'The token\'s role does not allow this audit operation'),
  badOptions: LedgerErrors.badOptions,
  noHasher: defineError('MLG_AUD_NO_HASHER', 400, 'The operation needs telemetry.hashing (key and key id) in the config'),
  noSubjectColumn: defineError('MLG_AUD_NO_SUBJECT_COLUMN', 400, 'Erasure by subject needs audit.erasure.subjectColumn, a requests column holding the subject hash'),
  schemaMissing: defineError('MLG_AUD_SCHEMA_MISSING', 500, 'A table or column the audit needs is missing: run the migrations'),
  chainConflict: LedgerErrors.chainConflict,
  badRow: LedgerErrors.badRow,
  erasureIncomplete: defineError('MLG_AUD_ERASURE_INCOMPLETE', 500, 'Rows of the erased subject remain after the delete'),
  internal: defineError('MLG_AUD_INTERNAL', 500, 'The audit API failed unexpectedly (see the service log)'),
  rateLimited: defineError('MLG_AUD_RATE_LIMITED', 429, 'Too many keyed-hash lookups by this token; retry after the given seconds'),
  exportTooLarge: defineError('MLG_AUD_EXPORT_TOO_LARGE', 413, 'An export would exceed audit.maxExportRows; narrow the filter'),
} as const;
