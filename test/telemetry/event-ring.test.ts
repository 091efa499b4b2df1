/**
 * The shared ring between the request thread and the telemetry thread (event-ring.ts): a whole
 * record (kind 3) comes out exactly as it went in, every field, with nulls, prices, non-ASCII
 * strings and payloads, across the ring's wrap-around.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventRecord } from '../../services/telemetry/event-builder.ts';
import { ringMemory, RingReader, RingWriter } from '../../services/telemetry/event-ring.ts';

/** A record whose every field has a value no other field has. */
function record(i: number, nulls: boolean): EventRecord {
  return {
    event_id: `0193f0a2-0000-7000-8000-${String(i).padStart(12, '0')}`, ts: 1_765_000_000_000 + i, route: '/v1/chat/completions', model: `modèle-${i}`,
    version: `v${i}`, role: 'canary', rollout_id: `ro-${i}`, consumer_id: `sub:${i}ab`, method: 'POST', status: 200 + (i % 300), outcome: 'ok',
    error_class: `class-${i}`, latency_ms: 12.25 + i, upstream_latency_ms: nulls ? null : 10.5, ttfb_ms: nulls ? null : 3.125, request_bytes: 100 + i,
    response_bytes: 200 + i, correlation_id: `corr-${i}-ü`, trace_id: `trace-${i}`, span_id: `span-${i}`, cache: nulls ? '' : 'hit',
    upstream_model: `gpt-${i}`, ttft_ms: nulls ? null : 41.5, itl_mean_ms: nulls ? null : 7.75, itl_p95_ms: nulls ? null : 9.5, generation_ms: nulls ? null : 301,
    price: nulls ? undefined : { input: 0.15, output: 0.6 },
    requestBody: Buffer.from(`{"q":"${'日本'.repeat(i % 50)}"}`), requestContentType: 'application/json; charset=utf-8',
    responseBody: nulls ? null : Buffer.from(`{"a":${i}}`), responseTail: nulls ? Buffer.from('data: [DONE]') : null, responseContentType: nulls ? undefined : 'application/json',
    prediction: { label: 'label', score: 'score' }, redaction: { storeInput: true, maskPaths: ['a.b'] },
  };
}

test('ring: a whole record comes out field for field as it went in, through many wrap-arounds', () => {
  const mem = ringMemory(16 * 1024);
  const writer = new RingWriter(mem);
  const reader = new RingReader(mem);
  const got: EventRecord[] = [];
  const sent: EventRecord[] = [];
  for (let i = 0; i < 400; i++) {
    const r = record(i, i % 2 === 1);
    assert.ok(writer.writeRecord(r), `record ${i} written`);
    sent.push(r);
    if (i % 7 === 6) {
      reader.drain((x) => got.push({ ...x, requestBody: Buffer.from(x.requestBody!), responseBody: x.responseBody && Buffer.from(x.responseBody), responseTail: x.responseTail && Buffer.from(x.responseTail) }));
    }
  }
  reader.drain((x) => got.push({ ...x, requestBody: Buffer.from(x.requestBody!), responseBody: x.responseBody && Buffer.from(x.responseBody), responseTail: x.responseTail && Buffer.from(x.responseTail) }));
  assert.equal(got.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    const want = { ...sent[i]!, requestContentType: sent[i]!.requestContentType, prediction: sent[i]!.prediction, redaction: sent[i]!.redaction };
    assert.deepEqual({ ...got[i]! }, want, `record ${i}`);
  }
});

test('ring: a full ring refuses a record instead of overwriting one not yet read', () => {
  const mem = ringMemory(8 * 1024);
  const writer = new RingWriter(mem);
  const reader = new RingReader(mem);
  let written = 0;
  while (writer.writeRecord(record(written, false))) written++;
  assert.ok(written > 3 && written < 100, `written ${written}`);
  let read = 0;
  reader.drain((x) => { assert.equal(x.ts, 1_765_000_000_000 + read); read++; });
  assert.equal(read, written);
});

test('ring: a record of a kind it does not know makes the reader fail loudly, before it counts anything taken', () => {
  const mem = ringMemory(8 * 1024);
  const writer = new RingWriter(mem);
  const reader = new RingReader(mem);
  assert.ok(writer.writeRecord(record(0, false)));
  // Kind 2 (payloads only) is no longer written: a reader that meets one must not guess.
  const buf = Buffer.from(mem.data);
  buf.writeUInt8(2, 4);
  assert.throws(() => reader.drain(() => assert.fail('nothing is read')), /unknown kind 2/);
  assert.equal(writer.taken(), 0);
});
