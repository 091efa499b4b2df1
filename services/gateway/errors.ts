/**
 * The gateway's error catalogue. Every error a client or admin sees has one of these codes; the
 * `outcome` a request gets in its telemetry event follows from the code ({@link outcomeOf}).
 */
import { defineError, MlgateError } from '../core/errors.ts';
import type { Outcome } from '../telemetry/event.ts';

/** Gateway errors, by what went wrong. */
export const GatewayErrors = {
  badJson: defineError('MLG_GW_BAD_JSON'),
  badRequest: defineError('MLG_GW_BAD_REQUEST'),
  badPath: defineError('MLG_GW_BAD_PATH'),
  tooLarge: defineError('MLG_GW_BODY_TOO_LARGE'),
  unknownModel: defineError('MLG_GW_UNKNOWN_MODEL'),
  notFound: defineError('MLG_GW_NOT_FOUND'),
  unauthorized: defineError('MLG_GW_UNAUTHORIZED'),
  forbidden: defineError('MLG_GW_FORBIDDEN'),
  rateLimited: defineError('MLG_GW_RATE_LIMITED'),
  circuitOpen: defineError('MLG_GW_CIRCUIT_OPEN'),
  noUpstream: defineError('MLG_GW_NO_UPSTREAM'),
  upstreamTimeout: defineError('MLG_GW_UPSTREAM_TIMEOUT'),
  upstreamError: defineError('MLG_GW_UPSTREAM_ERROR'),
  shuttingDown: defineError('MLG_GW_SHUTTING_DOWN'),
  providerUnsupported: defineError('MLG_GW_PROVIDER_UNSUPPORTED'),
  providerBadAnswer: defineError('MLG_GW_PROVIDER_BAD_ANSWER'),
  providerStreamError: defineError('MLG_GW_PROVIDER_STREAM_ERROR'),
  internal: defineError('MLG_GW_INTERNAL'),
  credentialUnresolved: defineError('MLG_GW_CREDENTIAL_UNRESOLVED'),
  adminUnauthorized: defineError('MLG_GW_ADMIN_UNAUTHORIZED'),
  adminInvalid: defineError('MLG_GW_ADMIN_INVALID'),
  adminConflict: defineError('MLG_GW_ADMIN_CONFLICT'),
  adminRecordFailed: defineError('MLG_GW_ADMIN_RECORD_FAILED'),
  adminReloadUnavailable: defineError('MLG_GW_ADMIN_RELOAD_UNAVAILABLE'),
  workerStartFailed: defineError('MLG_GW_WORKER_START_FAILED'),
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
  MLG_GW_PROVIDER_UNSUPPORTED: 'bad_request',
  MLG_GW_PROVIDER_BAD_ANSWER: 'upstream_error',
  MLG_GW_PROVIDER_STREAM_ERROR: 'upstream_error',
  MLG_EDGE_SCHEMA_INVALID: 'schema_invalid',
  MLG_EDGE_TOKEN_BUDGET: 'token_budget',
};

const OUTCOME_BY_STATUS: Readonly<Record<number, Outcome>> = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 413: 'payload_too_large', 429: 'rate_limited',
};

/** The telemetry outcome for an error that ends a request (hooks may throw other MlgateErrors). */
export function outcomeOf(err: unknown): Outcome {
  if (err instanceof MlgateError) return OUTCOME_BY_CODE[err.code] ?? OUTCOME_BY_STATUS[err.statusCode] ?? 'internal_error';
  return 'internal_error';
}
