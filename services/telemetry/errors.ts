/**
 * Error catalogue of the telemetry area: the local log, the sinks, hashing and redaction.
 * None of these reaches a client of the gateway (telemetry never fails a request); they reach
 * operators through logs, metrics and the CLI.
 */
import { defineError } from '../core/errors.ts';

/** Telemetry error codes. */
export const TelemetryErrors = {
  badOptions: defineError('MLG_TEL_BAD_OPTIONS'),
  logFull: defineError('MLG_TEL_LOG_FULL'),
  logLocked: defineError('MLG_TEL_LOG_LOCKED'),
  logClosed: defineError('MLG_TEL_LOG_CLOSED'),
  logIo: defineError('MLG_TEL_LOG_IO'),
  recordTooLarge: defineError('MLG_TEL_RECORD_TOO_LARGE'),
  badCommit: defineError('MLG_TEL_BAD_COMMIT'),
  sinkClosed: defineError('MLG_TEL_SINK_CLOSED'),
  hashKey: defineError('MLG_TEL_HASH_KEY'),
} as const;
