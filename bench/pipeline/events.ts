/**
 * Realistic telemetry events for the pipeline benchmark: several models and versions, a few
 * hundred consumers, keyed hashes (random, incompressible), redacted inputs of varying length,
 * latencies, scores, tokens, some errors and shadows. Compression numbers depend on this mix.
 */
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { SCHEMA_VERSION, type TelemetryEvent } from '../../services/telemetry/event.ts';

const WORDS = ['what', 'is', 'the', 'price', 'of', 'shipping', 'to', '<EMAIL>', 'order', 'refund', 'please', 'status', 'my', 'account',
  '<PHONE>', 'cancel', 'subscription', 'invoice', 'for', 'last', 'month', 'help', 'login', 'password', 'reset', 'thanks'];

function pick<T>(xs: readonly T[], r: number): T {
  return xs[Math.floor(r * xs.length) % xs.length]!;
}

/** One event with request time `ts`. */
export function benchEvent(i: number, ts: number): TelemetryEvent {
  const r = Math.random();
  const canary = i % 10 === 0;
  const shadow = i % 50 === 1;
  const failed = r < 0.01;
  const words = 8 + (i % 40);
  let text = '';
  for (let w = 0; w < words; w++) text += (w ? ' ' : '') + pick(WORDS, Math.random());
  const latency = Math.round((20 + Math.random() * 80 + (Math.random() < 0.02 ? 400 : 0)) * 100) / 100;
  return {
    event_id: uuidv7(), ts, gateway_id: `gw-${i % 3}`, route: '/v1/models/sentiment/predict', model: pick(['sentiment', 'fraud', 'chat'], (i % 7) / 7),
    version: canary ? 'v8' : 'v7', role: shadow ? 'shadow' : canary ? 'canary' : 'stable', rollout_id: canary ? 'r-2026-01' : '',
    consumer_id: `consumer-${i % 400}`, method: 'POST', status: failed ? 502 : 200, outcome: failed ? 'upstream_error' : 'ok',
    error_class: failed ? 'UpstreamStatus' : '', latency_ms: latency, upstream_latency_ms: Math.round(latency * 90) / 100,
    ttfb_ms: Math.round(latency * 50) / 100, request_bytes: 200 + text.length, response_bytes: 80 + (i % 300),
    input_hash: randomBytes(32).toString('hex'), output_hash: randomBytes(32).toString('hex'), hash_key_id: 'k1',
    input_redacted: JSON.stringify({ text }), redactions: text.includes('<EMAIL>') ? { EMAIL: 1 } : {},
    prediction_label: r < 0.6 ? 'positive' : 'negative', prediction_score: Math.round(Math.random() * 1e4) / 1e4,
    tokens_in: i % 3 === 0 ? words * 2 : null, tokens_out: i % 3 === 0 ? 12 : null, correlation_id: '',
    trace_id: randomBytes(16).toString('hex'), span_id: randomBytes(8).toString('hex'), cache: '', schema_version: SCHEMA_VERSION,
  };
}
