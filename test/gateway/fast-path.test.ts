/**
 * The data plane's fast path (hot POSTs served without fastify) answers exactly as the fastify
 * routes do: same status, headers, body, upstream request and telemetry event for the same call
 * taken either way, and the same for a body that breaks off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { fastRoute } from '../../services/gateway/proxy/data-plane.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { startStandIn } from '../support/upstream.ts';
import { request } from 'undici';
import { model, startTestGateway } from './helpers.ts';

const json = { 'content-type': 'application/json' };

test('fast path: which requests it takes', () => {
  const h = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', 'content-length': '10', ...extra });
  assert.deepEqual(fastRoute('POST', '/v1/models/sentiment/predict', h(), 100), { kind: 'model', template: '/v1/models/{model}/predict', length: 10 });
  assert.deepEqual(fastRoute('POST', '/v1/models/m-1.v2_x~/predict?debug=1', h(), 100), { kind: 'model', template: '/v1/models/{model}/predict', length: 10 });
  assert.deepEqual(fastRoute('POST', '/v1/chat/completions', h(), 100), { kind: 'openai', template: '/v1/chat/completions', length: 10 });
  assert.deepEqual(fastRoute('POST', '/v1/embeddings?x', h(), 100), { kind: 'openai', template: '/v1/embeddings', length: 10 });
  const fastify: Array<[string, string, Record<string, string>, number]> = [
    ['GET', '/v1/models/m/predict', h(), 100], // other methods
    ['POST', '/v1/models/m/predict/', h(), 100], // trailing slash: the router's rule
    ['POST', '/v1/models/m/other', h(), 100], // pass-through paths
    ['POST', '/v1/models/m%2Fx/predict', h(), 100], // encoded names: the router decodes
    ['POST', `/v1/models/${'m'.repeat(201)}/predict`, h(), 1000], // over the router's parameter limit
    ['POST', '/v1/models//predict', h(), 100],
    ['POST', '/v1/models/m/predict', h({ 'content-length': '101' }), 100], // too large: fastify's 413
    ['POST', '/v1/models/m/predict', h({ 'content-length': '0' }), 100], // no body
    ['POST', '/v1/models/m/predict', h({ 'content-length': '01' }), 100],
    ['POST', '/v1/models/m/predict', { 'content-type': 'application/json' }, 100], // no length
    ['POST', '/v1/models/m/predict', h({ 'transfer-encoding': 'chunked' }), 100],
    ['POST', '/v1/models/m/predict', { 'content-length': '10' }, 100], // no content type
    ['POST', '/v1/chat/completions/', h(), 100],
    ['POST', '/v1/models', h(), 100],
  ];
  for (const [m, u, headers, limit] of fastify) assert.equal(fastRoute(m, u, headers, limit), undefined, `${m} ${u} ${JSON.stringify(headers)}`);
});

/** The parts of an event that do not change between two identical calls. */
const stable = (e: TelemetryEvent) => {
  const { event_id: _i, ts: _t, latency_ms: _l, upstream_latency_ms: _u, ttfb_ms: _f, trace_id: _tr, span_id: _s, ...rest } = e;
  return rest;
};
const VOLATILE = new Set(['date', 'x-mlgate-event-id', 'x-mlgate-proxy-latency', 'x-mlgate-upstream-latency']);
const headersOf = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !VOLATILE.has(k)));

test('fast path: a call answers the same with and without fastify (JSON route, OpenAI route, bad JSON, unknown model)', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t, respond: (r) => ({ label: 'ok', echo: r.json }) });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: v1.url }, { prediction: { label: 'label' } }) } });
  // The same call twice: first as the fast path takes it, then sent chunked, which only fastify takes.
  const cases: Array<{ path: string; body: string }> = [
    { path: '/v1/models/m/predict?x=1', body: JSON.stringify({ text: 'mail jane@example.com', n: 1 }) },
    { path: '/v1/chat/completions', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) },
    { path: '/v1/models/m/predict', body: '{"broken":' },
    { path: '/v1/models/nope/predict', body: '{}' },
  ];
  for (const c of cases) {
    const fast = await post(`${gw.url}${c.path}`, c.body, false);
    const slow = await post(`${gw.url}${c.path}`, c.body, true);
    assert.equal(fast.status, slow.status, c.path);
    assert.deepEqual(headersOf(fast.headers), { ...headersOf(slow.headers), 'content-length': fast.headers['content-length'] }, c.path);
    assert.equal(fast.text, slow.text, c.path);
  }
  await sink.waitFor(cases.length * 2);
  for (let i = 0; i < cases.length; i++) {
    const [a, b] = [sink.events[2 * i]!, sink.events[2 * i + 1]!];
    assert.deepEqual(stable(a), stable(b), cases[i]!.path);
  }
  assert.equal(sink.events[0]!.status, 200);
  assert.equal(sink.events[4]!.outcome, 'bad_request');
  assert.equal(sink.events[6]!.outcome, 'not_found');
  const seen = v1.requests.filter((r) => r.path.startsWith('/predict'));
  assert.equal(seen.length, 2);
  const { 'content-length': _a, 'transfer-encoding': _b, traceparent: _c, ...h0 } = seen[0]!.headers;
  const { 'content-length': _d, 'transfer-encoding': _e, traceparent: _f, ...h1 } = seen[1]!.headers;
  assert.deepEqual(h0, h1, 'the upstream got the same headers');
  assert.deepEqual(seen[0]!.body, seen[1]!.body);
});

test('fast path: a body that breaks off is answered as fastify answers it (400, bad_request event)', async (t) => {
  const v1 = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: v1.url }) } });
  const { port } = new URL(gw.url);
  // A content length (the fast path) or chunked (fastify), part of the body, then the client is
  // gone. The head asks for 100-continue, so "100 Continue" says the request reached the gateway.
  const heads = ['content-length: 100', 'transfer-encoding: chunked'];
  for (const [i, framing] of heads.entries()) {
    const sock = connect(Number(port), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const continued = new Promise((r) => sock.once('data', r));
    sock.write(`POST /v1/models/m/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${framing}\r\nexpect: 100-continue\r\n\r\n`);
    assert.match(String(await continued), /^HTTP\/1.1 100 Continue/);
    sock.write(i === 0 ? '{"a":' : '5\r\n{"a":');
    sock.destroy();
    await sink.waitFor(i + 1);
  }
  const [fast, slow] = sink.events;
  assert.equal(fast!.outcome, 'bad_request');
  assert.equal(fast!.status, 400);
  assert.equal(fast!.model, 'm');
  assert.equal(fast!.request_bytes, 100, 'the announced length (chunked announces none)');
  assert.deepEqual({ ...stable(fast!), request_bytes: 0 }, stable(slow!), 'otherwise the same event either way');
  assert.equal(v1.requests.length, 0, 'nothing went upstream');
});

/** POSTs a JSON body with a content length, or chunked (as an async iterable: no length, so only fastify takes it). */
async function post(url: string, body: string, chunked: boolean): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(url, { method: 'POST', headers: json, body: chunked ? Readable.from([Buffer.from(body)]) : body });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}
