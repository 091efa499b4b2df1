/**
 * Streaming: SSE and chunked answers reach the client as they arrive (not buffered), time to
 * first byte is measured, and the event gets the stream's hash and its final usage chunk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startStandIn } from '../support/upstream.ts';
import { waitUntil } from '../support/infra.ts';
import { startTestGateway, model } from './helpers.ts';

test('streaming: the first SSE chunk reaches the client before the upstream has finished', async (t) => {
  const llm = await startStandIn({ name: 'llm-a', t, holdStream: true, chunks: 4 });
  const { gw, sink } = await startTestGateway(t, { models: { 'gpt-x': model({ a: llm.url }) } });
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-x', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/event-stream/);
  const it = res.body[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  assert.match(Buffer.from(first.value as Buffer).toString('utf8'), /^data: .*tok0/);
  // The upstream is still holding the rest of the stream: nothing was buffered in between.
  assert.equal(llm.streamsStarted, 1);
  assert.equal(llm.streamsFinished, 0, 'the upstream has not finished when the client has the first chunk');
  llm.release();
  let rest = '';
  for (let r = await it.next(); !r.done; r = await it.next()) rest += Buffer.from(r.value as Buffer).toString('utf8');
  assert.match(rest, /data: \[DONE\]/);
  assert.equal(llm.streamsFinished, 1);
  await sink.waitFor(1);
  const ev = sink.events[0]!;
  assert.equal(ev.model, 'gpt-x');
  assert.equal(ev.outcome, 'ok');
  assert.equal(ev.tokens_in, 7, 'tokens from the final chunk usage');
  assert.equal(ev.tokens_out, 4);
  assert.ok(ev.ttfb_ms !== null && ev.ttfb_ms <= ev.latency_ms, `ttfb ${ev.ttfb_ms} <= latency ${ev.latency_ms}`);
  assert.match(ev.output_hash, /^[0-9a-f]{64}$/);
  assert.equal(ev.response_bytes, Buffer.byteLength(Buffer.from(first.value as Buffer).toString('utf8') + rest));
});

test('streaming: chunked (non-SSE) answers are relayed piece by piece', async (t) => {
  const m = await startStandIn({ name: 'v1', t, mode: 'chunked', chunks: 3, holdStream: true });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: m.url }) } });
  const res = await request(`${gw.url}/v1/models/m/predict`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
  const it = res.body[Symbol.asyncIterator]();
  const first = await it.next();
  assert.match(Buffer.from(first.value as Buffer).toString('utf8'), /"piece":0/);
  assert.equal(m.streamsFinished, 0);
  m.release();
  let rest = '';
  for (let r = await it.next(); !r.done; r = await it.next()) rest += Buffer.from(r.value as Buffer).toString('utf8');
  assert.match(rest, /"piece":2/);
  await sink.waitFor(1);
  assert.equal(sink.events[0]!.outcome, 'ok');
  assert.equal(sink.events[0]!.tokens_in, null);
});

test('streaming: a client that leaves mid-stream is recorded as client_closed and the upstream is released', async (t) => {
  const m = await startStandIn({ name: 'v1', t, mode: 'sse', chunks: 3, holdStream: true });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: m.url }) } });
  const ac = new AbortController();
  const res = await request(`${gw.url}/v1/models/m/predict`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: ac.signal });
  const it = res.body[Symbol.asyncIterator]();
  await it.next();
  ac.abort();
  await sink.waitFor(1);
  assert.equal(sink.events[0]!.outcome, 'client_closed');
  assert.equal(sink.events[0]!.status, 499);
  m.release();
  const routing = await waitUntil('the version to be free again', async () => {
    const r = await request(`${gw.adminUrl}/admin/routing/m`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
    const j = (await r.body.json()) as { versions: Array<{ targets: Array<{ inflight: number }> }> };
    return j.versions[0]!.targets[0]!.inflight === 0 ? j : undefined;
  });
  assert.ok(routing);
});

test('streaming: a client that stops reading stalls the upstream (backpressure end to end, nothing buffered whole)', async (t) => {
  const TOTAL = 64 * 1024 * 1024;
  const CHUNK = Buffer.alloc(64 * 1024, 0x61);
  const up = { written: 0, stalled: false, finished: false };
  const upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) });
    const pump = (): void => {
      up.stalled = false;
      while (up.written < TOTAL) {
        up.written += CHUNK.length;
        if (!res.write(CHUNK)) {
          up.stalled = true;
          res.once('drain', pump);
          return;
        }
      }
      res.end(() => { up.finished = true; });
    };
    pump();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { upstream.closeAllConnections(); upstream.close(() => r()); }));
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }) } });

  const client = await new Promise<IncomingMessage>((resolve, reject) => {
    const r = httpRequest(`${gw.url}/v1/models/m/predict`, { method: 'POST', headers: { 'content-type': 'application/json' } }, resolve);
    r.on('error', reject);
    r.end('{}');
  });
  let received = 0;
  client.on('data', (c: Buffer) => { received += c.length; });
  client.pause();
  // Paused client: the upstream must stop and stay stopped far below the total (polled twice,
  // 250 ms apart; a gateway that buffered the body would have read all 64 MiB in well under that).
  let before = -1;
  await waitUntil('the upstream to stall behind the paused client', () => {
    const stuck = up.stalled && up.written < TOTAL && up.written === before;
    before = up.written;
    return stuck;
  }, 20_000, 250);
  assert.ok(up.written <= TOTAL / 4, `the upstream wrote ${up.written} bytes of ${TOTAL} while the client read nothing`);
  assert.equal(up.finished, false);
  client.resume();
  await new Promise((r) => client.once('end', r));
  assert.equal(received, TOTAL);
  await sink.waitFor(1);
  assert.equal(sink.events[0]!.outcome, 'ok');
  assert.equal(sink.events[0]!.response_bytes, TOTAL);
});
