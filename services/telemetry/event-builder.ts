/**
 * From a finished exchange to its telemetry event. The gateway copies what an event needs into a
 * plain, cloneable {@link EventRecord} (cheap, on the request thread: gateway/observability/event-record.ts);
 * {@link buildEvent} (hashes, redaction, JSON parsing of the response, prediction paths, token
 * usage) turns a record into the event, in the same thread or in the telemetry thread. This is
 * the one place where the PII policy is applied to an event.
 */
import { parseJsonBounded } from '../core/json-depth.ts';
import { SCHEMA_VERSION, type Outcome, type Role, type TelemetryEvent } from './event.ts';
import type { Hasher } from './hash.ts';
import type { Redactor } from './redact.ts';
import { extractPrediction, splitPath } from './json-path.ts';
import { usageOf, usageOfSse, type TokenUsage } from './usage.ts';
import { completeUsage, estimateOutputTokens, estimateSseOutputTokens, isOpenAiAnswer } from './token-estimate.ts';

const MAX_INPUT_CHARS = 65536;

/** Text the telemetry thread hashes at start so the parent can check both use the same key. */
export const PROBE = 'mlgate-event-worker-probe';
const SSE = /text\/event-stream/i;
const isJsonType = (ct: string | undefined): boolean => ct === undefined || /json/i.test(ct);

/** Everything an event needs, as plain data (structured-cloneable when `requestJson` is unset). */
export interface EventRecord {
  event_id: string;
  ts: number;
  route: string;
  model: string;
  version: string;
  role: Role;
  rollout_id: string;
  consumer_id: string;
  method: string;
  status: number;
  outcome: Outcome;
  error_class: string;
  latency_ms: number;
  upstream_latency_ms: number | null;
  ttfb_ms: number | null;
  request_bytes: number;
  response_bytes: number;
  correlation_id: string;
  trace_id: string;
  span_id: string;
  /** Response cache result ('' when the version does not cache). */
  cache: '' | 'hit' | 'miss';
  /** The model name the upstream got ('' off the OpenAI routes). */
  upstream_model: string;
  /** Token timing of a streamed answer (null otherwise): see the event's fields of the same names. */
  ttft_ms: number | null;
  itl_mean_ms: number | null;
  itl_p95_ms: number | null;
  /** Time from the first to the last output chunk of a stream (ms); null with fewer than 2. */
  generation_ms: number | null;
  /** The version's prices (USD per million input and output tokens), when configured. */
  price: { input: number; output: number } | undefined;
  requestBody: Uint8Array | null;
  requestContentType: string | undefined;
  /** The parsed request body when the request path parsed it (same-thread builds only). */
  requestJson?: unknown;
  /** Whole response body (when it fit the capture limit). */
  responseBody: Uint8Array | null;
  /** Last bytes of a response that did not fit (for an SSE stream's final usage). */
  responseTail: Uint8Array | null;
  responseContentType: string | undefined;
  prediction: { label?: string | undefined; score?: string | undefined } | undefined;
  redaction: { storeInput: boolean; maskPaths: readonly string[] } | undefined;
}

/** What {@link buildEvent} needs. */
export interface BuildDeps {
  hasher: Hasher;
  redactor: Redactor;
  gatewayId: string;
  /** Cache of split JSON paths (shared across calls). */
  paths: Map<string, string[]>;
}

const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

function pathOf(deps: BuildDeps, p: string): string[] {
  let s = deps.paths.get(p);
  if (!s) deps.paths.set(p, (s = splitPath(p)));
  return s;
}

/** The fields of an event computed from the payloads (the costly part). */
export interface PayloadFields {
  input_hash: string;
  output_hash: string;
  input_redacted: string;
  redactions: Record<string, number>;
  prediction_label: string | null;
  prediction_score: number | null;
  tokens_in: number | null;
  tokens_out: number | null;
  /** True when a token count was estimated with the tokenizer (the upstream reported none). */
  tokens_estimated: boolean;
}

/** The payload inputs of {@link payloadFields} (a subset of {@link EventRecord}). */
export type PayloadInput = Pick<EventRecord, 'requestBody' | 'requestContentType' | 'requestJson' | 'responseBody' | 'responseTail' | 'responseContentType' | 'prediction' | 'redaction'> & {
  /** Count tokens the upstream did not report ({@link wantsTokenEstimate}). */
  estimateTokens?: boolean;
};

/** True for an LLM answer (an OpenAI route, 2xx): its missing token counts are estimated. */
export const wantsTokenEstimate = (r: Pick<EventRecord, 'status' | 'upstream_model'>): boolean => r.upstream_model !== '' && r.status >= 200 && r.status < 300;

/** Hashes, redaction, prediction and usage of one request's payloads. Throws only on bugs. */
export function payloadFields(r: PayloadInput, deps: BuildDeps, estimateTokens = r.estimateTokens === true): PayloadFields {
  const { hasher } = deps;
  let inputHash = '';
  let redacted = '';
  let redactions: Record<string, number> = {};
  let requestJson: unknown;
  if (r.requestBody) {
    const body = asBuffer(r.requestBody);
    let parsed = r.requestJson;
    let notJson = false;
    if (parsed === undefined && r.requestContentType !== undefined && /json/i.test(r.requestContentType)) {
      // Declared JSON that does not parse is hashed as bytes (hashPayload would parse it again).
      try { parsed = parseJsonBounded(body.toString('utf8')); } catch { notJson = true; }
    }
    requestJson = parsed;
    inputHash = parsed !== undefined ? hasher.hashValue(parsed) : notJson ? hasher.hashBytes(body) : hasher.hashPayload(body, r.requestContentType);
    if (!r.redaction || r.redaction.storeInput) {
      // The one place the PII policy meets a payload: the redactor applies the model's mask
      // paths with its own, and treats as JSON whatever parses as JSON.
      const red = deps.redactor.redact(body, r.requestContentType, { parsed, maskPaths: r.redaction?.maskPaths });
      redacted = red.text.slice(0, MAX_INPUT_CHARS);
      redactions = red.counts;
    }
  }
  let outputHash = '';
  let label: string | null = null;
  let score: number | null = null;
  let usage: TokenUsage | undefined;
  // What the answer shows of its tokens, when it is an OpenAI answer at all (else nothing is estimated).
  let output: (() => number | null) | undefined;
  const ct = r.responseContentType;
  if (r.responseBody) {
    const body = asBuffer(r.responseBody);
    if (ct && SSE.test(ct)) {
      outputHash = hasher.hashPayload(body, ct);
      const text = body.toString('utf8');
      usage = usageOfSse(text);
      if (estimateTokens && (usage?.tokensIn == null || usage.tokensOut == null)) {
        const n = estimateSseOutputTokens(text);
        if (n !== null) output = () => n;
      }
    } else {
      let parsed: unknown;
      let isJson = false;
      let tried = false;
      if (isJsonType(ct)) {
        tried = true;
        try {
          parsed = parseJsonBounded(body.toString('utf8'));
          isJson = true;
        } catch { /* not JSON after all: hashed as bytes, not parsed again */ }
      }
      outputHash = isJson ? hasher.hashValue(parsed) : tried ? hasher.hashBytes(body) : hasher.hashPayload(body, ct);
      if (isJson) {
        usage = usageOf(parsed);
        if (isOpenAiAnswer(parsed)) output = () => estimateOutputTokens(parsed);
        const p = r.prediction;
        if (p) ({ label, score } = extractPrediction(parsed, { label: p.label ? pathOf(deps, p.label) : undefined, score: p.score ? pathOf(deps, p.score) : undefined }));
      }
    }
  } else if (r.responseTail && ct && SSE.test(ct)) {
    usage = usageOfSse(asBuffer(r.responseTail).toString('utf8'));
  }
  // An LLM answer (an OpenAI route, 2xx) without complete usage: the tokenizer counts the rest.
  let estimated = false;
  const answer = output;
  if (estimateTokens && answer && (usage?.tokensIn == null || usage.tokensOut == null)) {
    ({ usage, estimated } = completeUsage(usage, requestJson, answer));
  }
  return {
    input_hash: inputHash, output_hash: outputHash, input_redacted: redacted, redactions,
    prediction_label: label, prediction_score: score, tokens_in: usage?.tokensIn ?? null, tokens_out: usage?.tokensOut ?? null,
    tokens_estimated: estimated,
  };
}

/**
 * Output tokens per second of a stream: the tokens after the first (the first one's arrival is
 * the time to first token) over the time from the first to the last output chunk, so a stream
 * that sends one token every 50 ms reads 20. Null without a token count, with fewer than 2
 * tokens, or without a generation time.
 */
export function outputTps(tokensOut: number | null, generationMs: number | null): number | null {
  if (tokensOut === null || tokensOut < 2 || generationMs === null || !(generationMs > 0)) return null;
  return Math.round(((tokensOut - 1) * 1000 / generationMs) * 1000) / 1000;
}

/**
 * What a request cost (USD) at `price` per million tokens: null without a price or without both
 * token counts; 0 on a cache hit (the upstream was not called). Rounded to 1e-10 USD.
 */
export function costUsd(price: EventRecord['price'], cache: EventRecord['cache'], tokensIn: number | null, tokensOut: number | null): number | null {
  if (price === undefined || tokensIn === null || tokensOut === null) return null;
  if (cache === 'hit') return 0;
  return Math.round((tokensIn * price.input + tokensOut * price.output) * 1e4) / 1e10;
}

/** The event of a record, given its payload fields. */
export function assembleEvent(r: EventRecord, f: PayloadFields, gatewayId: string, hashKeyId: string): TelemetryEvent {
  return {
    event_id: r.event_id,
    ts: r.ts,
    gateway_id: gatewayId,
    route: r.route,
    model: r.model,
    version: r.version,
    role: r.role,
    rollout_id: r.rollout_id,
    consumer_id: r.consumer_id,
    method: r.method,
    status: r.status,
    outcome: r.outcome,
    error_class: r.error_class,
    latency_ms: r.latency_ms,
    upstream_latency_ms: r.upstream_latency_ms,
    ttfb_ms: r.ttfb_ms,
    request_bytes: r.request_bytes,
    response_bytes: r.response_bytes,
    input_hash: f.input_hash,
    output_hash: f.output_hash,
    hash_key_id: hashKeyId,
    input_redacted: f.input_redacted,
    redactions: f.redactions,
    prediction_label: f.prediction_label,
    prediction_score: f.prediction_score,
    tokens_in: f.tokens_in,
    tokens_out: f.tokens_out,
    tokens_estimated: f.tokens_estimated,
    correlation_id: r.correlation_id,
    trace_id: r.trace_id,
    span_id: r.span_id,
    cache: r.cache,
    upstream_model: r.upstream_model,
    ttft_ms: r.ttft_ms,
    itl_mean_ms: r.itl_mean_ms,
    itl_p95_ms: r.itl_p95_ms,
    output_tps: outputTps(f.tokens_out, r.generation_ms),
    cost_usd: costUsd(r.price, r.cache, f.tokens_in, f.tokens_out),
    schema_version: SCHEMA_VERSION,
  };
}

/** Builds the event of a record in this thread. */
export function buildEvent(r: EventRecord, deps: BuildDeps): TelemetryEvent {
  return assembleEvent(r, payloadFields(r, deps, wantsTokenEstimate(r)), deps.gatewayId, deps.hasher.keyId);
}
