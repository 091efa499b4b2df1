/** Error catalogue of the ingester. */
import { defineError } from '../core/errors.ts';

/** The ingester's error codes. */
export const IngesterErrors = {
  badOptions: defineError('MLG_ING_BAD_OPTIONS'),
  stopped: defineError('MLG_ING_STOPPED'),
  commitFailed: defineError('MLG_ING_COMMIT_FAILED'),
  deadLetterFailed: defineError('MLG_ING_DLQ_FAILED'),
  sourceFailed: defineError('MLG_ING_SOURCE_FAILED'),
  batchRejected: defineError('MLG_ING_BATCH_REJECTED'),
} as const;
