/**
 * The gateway's error catalogue. Every error a client or admin sees has one of these codes; the
 * `outcome` a request gets in its telemetry event follows from the code ({@link outcomeOf}).
 */
import { defineError, MlgateError } from '../core/errors.ts';
import type { Outcome } from '../telemetry/event.ts';

/** Gateway errors, by what went wrong. */
export const GatewayErrors = {
  badJson: defineError('MLG_GW_BAD_JSON', 400, 'The request body is not valid JSON'),
  badRequest: defineError('MLG_GW_BAD_REQUEST', 400, 'The request is malformed (missing model, unknown version, ...)'),
  badPath: defineError('MLG_GW_BAD_PATH', 400, 'The forwarded path has dot segments, encoded separators or NUL bytes that could leave the target\'s base path'),
  tooLarge: defineError('MLG_GW_BODY_TOO_LARGE', 413, 'The request body is larger than the model allows'),
  unknownModel: defineError('MLG_GW_UNKNOWN_MODEL', 404, 'No model of that name is configured'),
  notFound: defineError('MLG_GW_NOT_FOUND', 404, 'No gateway route matches the path'),
  unauthorized: defineError('MLG_GW_UNAUTHORIZED', 401, 'Credentials are missing or wrong'),
  forbidden: defineError('MLG_GW_FORBIDDEN', 403, 'The caller may not do this'),
  rateLimited: defineError('MLG_GW_RATE_LIMITED', 429, 'The caller sent too many requests'),
  circuitOpen: defineError('MLG_GW_CIRCUIT_OPEN', 503, 'The version is unavailable (breaker open, tripped or unhealthy) and there is no fallback'),
  noUpstream: defineError('MLG_GW_NO_UPSTREAM', 503, 'No healthy upstream target is left for the version'),
  upstreamTimeout: defineError('MLG_GW_UPSTREAM_TIMEOUT', 504, 'The upstream did not answer in time'),
  upstreamError: defineError('MLG_GW_UPSTREAM_ERROR', 502, 'The upstream refused or reset the connection'),
  shuttingDown: defineError('MLG_GW_SHUTTING_DOWN', 503, 'The gateway is shutting down'),
  internal: defineError('MLG_GW_INTERNAL', 500, 'Unexpected gateway failure'),
  credentialUnresolved: defineError('MLG_GW_CREDENTIAL_UNRESOLVED', 400, 'An upstream credential reference does not resolve (environment variable unset, file unreadable or empty); the start or reload is refused'),
  adminUnauthorized: defineError('MLG_GW_ADMIN_UNAUTHORIZED', 401, 'The admin API needs a valid bearer token'),
  adminInvalid: defineError('MLG_GW_ADMIN_INVALID', 400, 'The admin change is invalid; nothing was changed'),
  adminConflict: defineError('MLG_GW_ADMIN_CONFLICT', 409, 'A newer routing state arrived while the change was made; retry'),
  adminRecordFailed: defineError('MLG_GW_ADMIN_RECORD_FAILED', 503, 'The admin change could not be recorded, so it was not applied'),
  adminReloadUnavailable: defineError('MLG_GW_ADMIN_RELOAD_UNAVAILABLE', 400, 'This gateway was started without a config file to reload'),
} as const;

const OUTCOME_BY_CODE: Readonly<Record<string, Outcome>> = {
  MLG_GW_BAD_JSON: 'bad_request',
  MLG_GW_BAD_REQUEST: 'bad_request',
  MLG_GW_BAD_PATH: 'bad_request',
  MLG_GW_BODY_TOO_LARGE: 'payload_too_large',
  MLG_GW_UNKNOWN_MODEL: 'not_found',
  MLG_GW_NOT_FOUND: 'not_found',
  MLG_GW_UNAUTHORIZED: 'unauthorized',
  MLG_GW_FORBIDDEN: 'forbidden',
  MLG_GW_RATE_LIMITED: 'rate_limited',
  MLG_GW_CIRCUIT_OPEN: 'circuit_open',
  MLG_GW_NO_UPSTREAM: 'no_upstream',
  MLG_GW_UPSTREAM_TIMEOUT: 'timeout',
  MLG_GW_UPSTREAM_ERROR: 'upstream_error',
  MLG_GW_SHUTTING_DOWN: 'no_upstream',
  MLG_EDGE_SCHEMA_INVALID: 'schema_invalid',
};

const OUTCOME_BY_STATUS: Readonly<Record<number, Outcome>> = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 413: 'payload_too_large', 429: 'rate_limited',
};

/** The telemetry outcome for an error that ends a request (hooks may throw other MlgateErrors). */
export function outcomeOf(err: unknown): Outcome {
  if (err instanceof MlgateError) return OUTCOME_BY_CODE[err.code] ?? OUTCOME_BY_STATUS[err.statusCode] ?? 'internal_error';
  return 'internal_error';
}
