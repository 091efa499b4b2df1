/**
 * Error catalogue of the warehouse (ClickHouse server or embedded chdb), and the mapping from
 * what @clickhouse/client, chdb and the network throw to those codes. Callers decide what to do
 * from the code alone: UNAVAILABLE is worth retrying, DATA_REJECTED is not (the rows are bad),
 * QUERY_FAILED needs a human (schema, SQL, permissions).
 */
import { defineError, MlgateError } from '../core/errors.ts';

/** The warehouse's error codes. */
export const WarehouseErrors = {
  unavailable: defineError('MLG_WH_UNAVAILABLE'),
  authFailed: defineError('MLG_WH_AUTH_FAILED'),
  queryFailed: defineError('MLG_WH_QUERY_FAILED'),
  dataRejected: defineError('MLG_WH_DATA_REJECTED'),
  badIdentifier: defineError('MLG_WH_BAD_IDENTIFIER'),
  enginePathConflict: defineError('MLG_WH_ENGINE_PATH_CONFLICT'),
  unsupported: defineError('MLG_WH_UNSUPPORTED'),
  migrationFailed: defineError('MLG_WH_MIGRATION_FAILED'),
  migrationInvalid: defineError('MLG_WH_MIGRATION_INVALID'),
  closed: defineError('MLG_WH_CLOSED'),
  embeddedUnsupported: defineError('MLG_WH_EMBEDDED_UNSUPPORTED'),
} as const;

/** ClickHouse error codes that mean "try again later" (server busy, shutting down, network). */
const RETRYABLE_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  160, // TOO_SLOW
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED (server shutdown)
  425, // SYSTEM_ERROR
  439, // CANNOT_SCHEDULE_TASK
  999, // KEEPER_EXCEPTION
]);
/** ClickHouse error codes for a wrong user, password or network restriction. */
const AUTH_CODES = new Set([192, 193, 194, 195, 516]);
/** ClickHouse error codes that mean the inserted data itself is malformed. */
const DATA_CODES = new Set([6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 131, 173]);

/** Node network error codes that mean the server is not there (or went away mid-request). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

/** Extracts the numeric ClickHouse code from an error (new `Code: 60. DB::…` and old `Code: 60, e.displayText()` forms). */
export function clickHouseCode(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, clickhouseCode } = err as { code?: unknown; clickhouseCode?: unknown };
  if (typeof clickhouseCode === 'number') return clickhouseCode;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const m = /Code: (\d+)[.,]/.exec(err.message);
  return m ? Number(m[1]) : undefined;
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if (/socket hang up|Timeout error|ECONNREFUSED|ECONNRESET|other side closed/i.test(e.message)) return 'ECONNRESET';
  }
  return undefined;
}

/** The first line of a ClickHouse message, without its stack trace, capped for logs and DLQ headers. */
export function shortMessage(err: unknown, max = 500): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/**
 * Maps anything a ClickHouse call threw to a catalogue error with the cause chained.
 * @param what what was being done, e.g. `insert into mlgate.requests` (never SQL values).
 */
export function mapClickHouseError(err: unknown, what: string): MlgateError {
  if (err instanceof MlgateError) return err;
  const code = clickHouseCode(err);
  const details: Record<string, unknown> = code === undefined ? {} : { clickhouseCode: code };
  const msg = shortMessage(err);
  if (code !== undefined && AUTH_CODES.has(code)) {
    return WarehouseErrors.authFailed(`${what}: authentication failed: ${msg}`, { cause: err, details });
  }
  if (code !== undefined && RETRYABLE_CODES.has(code)) {
    return WarehouseErrors.unavailable(`${what}: ClickHouse is busy or unavailable: ${msg}`, { cause: err, details });
  }
  if (code !== undefined && DATA_CODES.has(code)) {
    return WarehouseErrors.dataRejected(`${what}: rows rejected: ${msg}`, { cause: err, details });
  }
  if (code !== undefined) {
    return WarehouseErrors.queryFailed(`${what}: ${msg}`, { cause: err, details });
  }
  const net = networkCode(err);
  if (net) return WarehouseErrors.unavailable(`${what}: ClickHouse unreachable (${net}): ${msg}`, { cause: err, details: { network: net } });
  if (/ChdbConnection is closed/.test(msg)) return WarehouseErrors.closed(`${what}: the embedded engine is closed`, { cause: err });
  return WarehouseErrors.queryFailed(`${what}: ${msg}`, { cause: err });
}

/** True for errors a caller should retry after a pause (server down, busy, credentials being fixed). */
export function isRetryable(err: unknown): boolean {
  return WarehouseErrors.unavailable.is(err) || WarehouseErrors.authFailed.is(err);
}
