/**
 * The gateway's hand-over to telemetry: copies what the event of a finished exchange needs into
 * a plain {@link EventRecord}. Buffers are referenced, not copied. Everything else (hashes,
 * redaction, the event itself) is telemetry's (telemetry/event-builder.ts).
 */
import type { EventRecord } from '../../telemetry/event-builder.ts';
import { UNKNOWN_MODEL, type Exchange } from '../proxy/exchange-record.ts';

/** Milliseconds with 3 decimals (null stays null). */
function ms3(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}

/** The prices of the version that answered `x`, when configured. */
function priceOf(x: Exchange): EventRecord['price'] {
  const versions = x.modelConfig?.versions;
  return versions !== undefined && Object.hasOwn(versions, x.version) ? versions[x.version]!.pricePerMillionTokens : undefined;
}

/** Copies what the event of `x` needs. */
export function recordOf(x: Exchange): EventRecord {
  const upstreamEnd = x.tUpstreamEnd || x.tHeaders;
  const cap = x.capture;
  const body = cap?.body();
  const tt = x.tokenTimer;
  const timed = tt !== undefined && tt.events > 0;
  return {
    event_id: x.eventId,
    ts: x.ts,
    route: x.route.slice(0, 500),
    // Only configured names: whatever a client wrote in the path or the body is never stored.
    model: x.modelConfig !== undefined ? x.model : UNKNOWN_MODEL,
    version: x.version,
    role: x.role,
    rollout_id: x.rolloutId,
    consumer_id: x.consumerId,
    method: x.method.slice(0, 16),
    status: x.status,
    outcome: x.outcome,
    error_class: x.errorClass.slice(0, 200),
    latency_ms: x.since(x.tEnd) ?? 0,
    upstream_latency_ms: x.tUpstream > 0 && upstreamEnd > 0 ? Math.round((upstreamEnd - x.tUpstream) * 1000) / 1000 : null,
    ttfb_ms: x.since(x.tFirstByte),
    request_bytes: x.requestBytes,
    response_bytes: x.responseBytes,
    correlation_id: x.correlationId,
    trace_id: x.trace?.traceId ?? '',
    span_id: x.trace?.spanId ?? '',
    cache: x.cache,
    upstream_model: x.upstreamModel.slice(0, 200),
    ttft_ms: timed ? x.since(tt.tFirst) : null,
    itl_mean_ms: timed ? ms3(tt.meanGap()) : null,
    itl_p95_ms: timed ? ms3(tt.p95Gap()) : null,
    generation_ms: timed && tt.events >= 2 ? ms3(tt.tLast - tt.tFirst) : null,
    price: priceOf(x),
    requestBody: x.requestBody && x.requestBody.length > 0 ? x.requestBody : null,
    requestContentType: x.requestContentType,
    requestJson: x.requestJson,
    responseBody: body && body.length > 0 ? body : null,
    responseTail: cap && cap.overflow ? cap.tail() : null,
    responseContentType: x.responseContentType,
    prediction: x.modelConfig?.prediction,
    redaction: x.modelConfig?.redaction,
  };
}

