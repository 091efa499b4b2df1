/**
 * Observability: /metrics names and labels, W3C traceparent propagated upstream with the trace
 * id in the event, spans only for sampled requests, and pino logs without bodies or keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model, admin } from './helpers.ts';
import { createLogger } from '../../services/core/log.ts';
import { parseTraceparent } from '../../services/gateway/observability/tracing.ts';

test('metrics: requests, latencies, breakers, weights, generation, in-flight and telemetry are exported', async (t) => {
  const s = await startStandIn({ name: 's', t });
  const c = await startStandIn({ name: 'c', t });
  const { gw } = await startTestGateway(t, { models: { m: model({ s: s.url, c: c.url }, { weights: { s: 100, c: 0 } }) } });
  for (let i = 0; i < 3; i++) await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { 'x-mlgate-version': 'c' } });
  const text = await (await fetch(gw.metricsUrl)).text();
  for (const re of [
    /mlgate_gateway_requests_total\{model="m",version="s",role="stable",outcome="ok",gateway="gw-test"\} 3/,
    /mlgate_gateway_requests_total\{model="m",version="c",role="pinned",outcome="ok"[^}]*\} 1/,
    /mlgate_gateway_request_duration_seconds_count\{model="m",version="s",role="stable"[^}]*\} 3/,
    /mlgate_gateway_upstream_duration_seconds_count\{model="m",version="s"[^}]*\} 3/,
    /mlgate_gateway_ttfb_seconds_count\{model="m",version="s"[^}]*\} 3/,
    /mlgate_gateway_inflight_requests\{[^}]*\} 0/,
    /mlgate_gateway_breaker_state\{model="m",version="c"[^}]*\} 0/,
    /mlgate_gateway_version_weight\{model="m",version="s"[^}]*\} 100/,
    /mlgate_gateway_routing_generation\{model="m"[^}]*\} 0/,
    /mlgate_telemetry_queue_depth\{[^}]*\} 0/,
    /mlgate_telemetry_events_total\{result="sent"[^}]*\} \d+/,
    /mlgate_telemetry_events_total\{result="dropped"[^}]*\} 0/,
    /mlgate_gateway_request_duration_seconds_bucket\{le="0.001",model="m",version="s",role="stable"[^}]*\} \d+/,
  ]) assert.ok(re.test(text), `metrics text lacks ${re}`);
});

test('tracing: sampled requests get a server span; every request propagates its trace id upstream and into its event', async (t) => {
  const s = await startStandIn({ name: 's', t });
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const { gw, sink } = await startTestGateway(t, { tracing: { sampleRatio: 0 }, models: { m: model({ v1: s.url }) } }, { tracerProvider: provider });
  const parentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentSpan = '00f067aa0ba902b7';
  // 1: sampled parent -> span, child of the parent, trace id kept
  await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { traceparent: `00-${parentTrace}-${parentSpan}-01` } });
  // 2: unsampled parent -> no span, trace id still kept
  await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { traceparent: `00-${parentTrace}-${parentSpan}-00` } });
  // 3: no parent at ratio 0 -> no span, a fresh trace id
  await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  // 4: a malformed traceparent is ignored
  await call(`${gw.url}/v1/models/m/predict`, { body: {}, headers: { traceparent: 'garbage' } });
  await sink.waitFor(4);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1, 'only the sampled request has a span');
  const span = spans[0]!;
  assert.equal(span.spanContext().traceId, parentTrace);
  assert.equal(span.parentSpanContext?.spanId, parentSpan);
  assert.equal(span.name, 'POST /v1/models/{model}/predict');
  assert.equal(span.attributes['mlgate.version'], 'v1');
  const up = s.requests.map((r) => parseTraceparent(r.headers.traceparent as string)!);
  const [e1, e2, e3, e4] = sink.events;
  assert.deepEqual([up[0]!.traceId, up[0]!.parentId, up[0]!.sampled], [parentTrace, span.spanContext().spanId, true]);
  assert.deepEqual([e1!.trace_id, e1!.span_id], [parentTrace, span.spanContext().spanId]);
  assert.deepEqual([up[1]!.traceId, up[1]!.sampled], [parentTrace, false]);
  assert.notEqual(up[1]!.parentId, parentSpan);
  assert.deepEqual([e2!.trace_id, e2!.span_id], [parentTrace, up[1]!.parentId]);
  assert.match(e3!.trace_id, /^[0-9a-f]{32}$/);
  assert.notEqual(e3!.trace_id, parentTrace);
  assert.equal(up[2]!.traceId, e3!.trace_id);
  assert.equal(up[3]!.traceId, e4!.trace_id);
});

test('tracing: at ratio 1 every parentless request gets a span', async (t) => {
  const s = await startStandIn({ name: 's', t });
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const { gw } = await startTestGateway(t, { tracing: { sampleRatio: 1 }, models: { m: model({ v1: s.url }) } }, { tracerProvider: provider });
  for (let i = 0; i < 3; i++) await call(`${gw.url}/v1/models/m/predict`, { body: {} });
  assert.equal(exporter.getFinishedSpans().length, 3);
  assert.equal(s.requests.every((r) => String(r.headers.traceparent).endsWith('-01')), true);
});

test('logs: pino JSON lines carry no bodies, keys or PII', async (t) => {
  const lines: string[] = [];
  const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const logger = createLogger({ service: 'gateway', level: 'debug', destination: dest as never });
  const s = await startStandIn({ name: 's', t, errorRate: 1, errorStatus: 500 });
  const { gw } = await startTestGateway(t, {
    models: { m: model({ v1: s.url }, { versionDefaults: { breaker: { minRequests: 2 }, retries: 0 } }) },
  }, { logger });
  for (let i = 0; i < 3; i++) await call(`${gw.url}/v1/models/m/predict`, { body: { secret: 'jane@example.com' }, headers: { authorization: 'Bearer sk-live-123' } });
  await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { v1: 100 } });
  const all = lines.join('');
  assert.match(all, /breaker state changed/, 'the breaker opening was logged');
  assert.doesNotMatch(all, /jane@example\.com|sk-live-123|test-admin-token/);
  for (const l of lines) JSON.parse(l);
});
