/**
 * The telemetry event contract, v1 (docs/telemetry.md). One JSON object per request and per
 * shadow copy. Producers build it with the TypeScript type; the ingester validates every message
 * against {@link TelemetryEventSchema}. Rule: add fields, never repurpose one; bump
 * SCHEMA_VERSION only for a change a v1 reader could misread.
 *
 * Conventions: absent strings are `''`, absent numbers are `null`; times are ms since the epoch.
 */
import { z } from 'zod';
import { parseJsonBounded } from '../core/json-depth.ts';

/** Current schema version written by producers. */
export const SCHEMA_VERSION = 1 as const;

/** Which arm served (or, for a shadow copy, received) the request. */
export const ROLES = ['stable', 'canary', 'shadow', 'fallback', 'pinned'] as const;
/** Request outcome classes. */
export const OUTCOMES = [
  'ok', 'bad_request', 'unauthorized', 'forbidden', 'not_found', 'payload_too_large', 'rate_limited',
  'schema_invalid', 'upstream_error', 'timeout', 'circuit_open', 'no_upstream', 'client_closed', 'internal_error',
  // The upstream answered 429 (a provider's quota); `rate_limited` is the gateway's own limit.
  'upstream_rate_limited',
  // A tokens-per-minute budget of the gateway refused an LLM request (docs/llm.md, "Token budgets").
  'token_budget',
] as const;

export type Role = (typeof ROLES)[number];
export type Outcome = (typeof OUTCOMES)[number];

const hex64OrEmpty = z.string().regex(/^([0-9a-f]{64})?$/, 'expected 64 lowercase hex characters or empty');
const nonNegInt = z.number().int().nonnegative();
const nullableMs = z.number().nonnegative().finite().nullable();
const nullableCount = nonNegInt.nullable();

/** Runtime schema of a v1 event. Unknown fields from newer producers are accepted and dropped. */
export const TelemetryEventSchema = z.object({
  event_id: z.uuid({ version: 'v7', message: 'expected a UUIDv7' }),
  ts: z.number().int().positive('expected ms since the epoch'),
  gateway_id: z.string().max(200),
  route: z.string().max(500),
  model: z.string().max(200),
  version: z.string().max(200),
  role: z.enum(ROLES),
  rollout_id: z.string().max(200),
  consumer_id: z.string().max(200),
  method: z.string().max(16),
  status: z.number().int().min(0).max(999),
  outcome: z.enum(OUTCOMES),
  error_class: z.string().max(200),
  latency_ms: z.number().nonnegative().finite(),
  upstream_latency_ms: nullableMs,
  ttfb_ms: nullableMs,
  request_bytes: nonNegInt,
  response_bytes: nonNegInt,
  input_hash: hex64OrEmpty,
  output_hash: hex64OrEmpty,
  hash_key_id: z.string().max(100),
  input_redacted: z.string().max(65536),
  redactions: z.record(z.string(), nonNegInt),
  prediction_label: z.string().max(500).nullable(),
  prediction_score: z.number().finite().nullable(),
  tokens_in: nullableCount,
  tokens_out: nullableCount,
  correlation_id: z.string().max(64),
  trace_id: z.string().regex(/^([0-9a-f]{32})?$/, 'expected 32 hex characters or empty'),
  span_id: z.string().regex(/^([0-9a-f]{16})?$/, 'expected 16 hex characters or empty'),
  cache: z.enum(['hit', 'miss', '']).default(''),
  /**
   * The model name the upstream got on an OpenAI route (the version's upstreamModel, else
   * `model`); '' elsewhere. Added within v1 as optional: events without it stay valid and are
   * stored with ''.
   */
  upstream_model: z.string().max(200).optional(),
  /**
   * Token timing of a streamed (SSE) answer on an OpenAI route, measured by the gateway as the
   * upstream's chunks arrive (docs/llm.md, "Token timing"): time from the request's start to the
   * first chunk carrying output (not the role chunk), the mean and p95 of the gaps between
   * successive output chunks (null with fewer than 2), and output tokens per second from the
   * first to the last output chunk (null without usage tokens). Null on every other request.
   * Added within v1 as optional: events without them are stored with NULL.
   */
  ttft_ms: nullableMs.optional(),
  itl_mean_ms: nullableMs.optional(),
  itl_p95_ms: nullableMs.optional(),
  output_tps: nullableMs.optional(),
  /**
   * What the request cost at its version's `pricePerMillionTokens` (USD): input and output tokens
   * at their prices, 0 on a cache hit; null without a price or without both token counts. Added
   * within v1 as optional: events without it are stored with NULL.
   */
  cost_usd: z.number().finite().nonnegative().nullable().optional(),
  /**
   * True when tokens_in or tokens_out was counted by the gateway's tokenizer because the upstream
   * reported no usage (docs/llm.md, "Estimated tokens"); cost_usd then rests on the estimate too.
   * Added within v1 as optional: events without it are stored as false.
   */
  tokens_estimated: z.boolean().optional(),
  schema_version: z.literal(SCHEMA_VERSION),
});

/** A v1 telemetry event. */
export type TelemetryEvent = z.output<typeof TelemetryEventSchema>;

/** Result of validating one message. */
export type EventValidation = { ok: true; event: TelemetryEvent } | { ok: false; reason: string };

/** Validates one decoded message; the reason names each failing field. */
export function validateEvent(value: unknown): EventValidation {
  const r = TelemetryEventSchema.safeParse(value);
  if (r.success) return { ok: true, event: r.data };
  return { ok: false, reason: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
}

/** Parses and validates a raw Kafka/log message body. */
export function decodeEvent(buf: Buffer | string): EventValidation {
  let value: unknown;
  try {
    value = parseJsonBounded(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  return validateEvent(value);
}
