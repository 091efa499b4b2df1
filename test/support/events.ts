/** Event fixtures shared by tests. */
import { v7 as uuidv7 } from 'uuid';
import { SCHEMA_VERSION, type TelemetryEvent } from '../../services/telemetry/event.ts';

/** A valid v1 event; fields in `over` replace the defaults. */
export function sampleEvent(over: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return {
    event_id: uuidv7(), ts: Date.now(), gateway_id: 'gw-1', route: '/v1/models/m/predict', model: 'm', version: 'v1',
    role: 'stable', rollout_id: '', consumer_id: 'c1', method: 'POST', status: 200, outcome: 'ok', error_class: '',
    latency_ms: 3.2, upstream_latency_ms: 2.9, ttfb_ms: 2.5, request_bytes: 10, response_bytes: 20,
    input_hash: 'a'.repeat(64), output_hash: 'b'.repeat(64), hash_key_id: 'k1', input_redacted: '{"text":"<EMAIL>"}',
    redactions: { EMAIL: 1 }, prediction_label: 'positive', prediction_score: 0.9, tokens_in: null, tokens_out: null,
    correlation_id: '', trace_id: '', span_id: '', cache: '', schema_version: SCHEMA_VERSION, ...over,
  };
}
