/**
 * Error catalogue of the telemetry area: the local log, the sinks, hashing and redaction.
 * None of these reaches a client of the gateway (telemetry never fails a request); they reach
 * operators through logs, metrics and the CLI.
 */
import { defineError } from '../core/errors.ts';

/** Telemetry error codes. */
export const TelemetryErrors = {
  badOptions: defineError('MLG_TEL_BAD_OPTIONS', 500, 'A telemetry component was constructed with an invalid option'),
  logFull: defineError('MLG_TEL_LOG_FULL', 507, 'The local log (spill or embedded transport) reached its size cap'),
  logLocked: defineError('MLG_TEL_LOG_LOCKED', 500, 'Another live writer holds the local log directory'),
  logClosed: defineError('MLG_TEL_LOG_CLOSED', 500, 'The local log writer or reader was used after close()'),
  logIo: defineError('MLG_TEL_LOG_IO', 500, 'Reading or writing the local log on disk failed'),
  recordTooLarge: defineError('MLG_TEL_RECORD_TOO_LARGE', 500, 'A record exceeds the largest size the local log frames'),
  badCommit: defineError('MLG_TEL_BAD_COMMIT', 500, 'A reader committed an offset it has not read'),
  sinkClosed: defineError('MLG_TEL_SINK_CLOSED', 500, 'An event was emitted after the sink was closed'),
  hashKey: defineError('MLG_TEL_HASH_KEY', 500, 'The telemetry hash key or key id is missing or too short'),
} as const;
