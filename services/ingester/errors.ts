/** Error catalogue of the ingester. */
import { defineError } from '../core/errors.ts';

/** The ingester's error codes. */
export const IngesterErrors = {
  badOptions: defineError('MLG_ING_BAD_OPTIONS', 500, 'The ingester was started with invalid options'),
  stopped: defineError('MLG_ING_STOPPED', 503, 'The ingester stopped before the batch in hand was stored; it will be redelivered'),
  commitFailed: defineError('MLG_ING_COMMIT_FAILED', 503, 'Offsets could not be committed after the rows were stored (they will be deduplicated on redelivery)'),
  deadLetterFailed: defineError('MLG_ING_DLQ_FAILED', 503, 'Messages could not be written to the dead-letter destination'),
  sourceFailed: defineError('MLG_ING_SOURCE_FAILED', 503, 'The event source (Kafka or the local log) failed'),
  batchRejected: defineError('MLG_ING_BATCH_REJECTED', 500, 'ClickHouse rejected a row of the batch; the row goes to the dead-letter destination'),
} as const;
