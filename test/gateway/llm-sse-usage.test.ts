/**
 * sse-usage.ts, pure: what include_usage added comes out of an SSE stream, every other byte
 * stays, whatever the serializer's spacing, line endings or how the network split the chunks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageStripper, rewriteEvent } from '../../services/gateway/proxy/sse-usage.ts';
import { chatStream } from './llm-stub.ts';

const pieces = ['a', 'b"c', '\\', 'usage', '{"usage":null}'];

function strip(chunks: readonly Buffer[], max?: number): { out: string; s: UsageStripper } {
  const s = new UsageStripper(max);
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const o = s.push(c);
    if (o) parts.push(o);
  }
  const rest = s.end();
  if (rest) parts.push(rest);
  return { out: Buffer.concat(parts).toString('utf8'), s };
}

test('sse usage: the stripped stream is the one sent without include_usage, however it was split', () => {
  const withUsage = chatStream('m', pieces, true).join('');
  const plain = chatStream('m', pieces, false).join('');
  const whole = Buffer.from(withUsage);
  assert.equal(strip([whole]).out, plain);
  for (let cut = 1; cut < whole.length; cut += 7) {
    assert.equal(strip([whole.subarray(0, cut), whole.subarray(cut)]).out, plain, `split at ${cut}`);
  }
  const bytes = [...whole].map((b) => Buffer.from([b]));
  const r = strip(bytes);
  assert.equal(r.out, plain, 'one byte at a time');
  assert.equal(r.s.dropped, 1);
  assert.equal(r.s.rewritten, pieces.length + 2);
});

test('sse usage: spaced JSON, CRLF, usage in the middle, usage next to choices', () => {
  assert.equal(rewriteEvent('data: {"id": "x", "usage": null, "choices": []}\n\n'), 'data: {"id": "x", "choices": []}\n\n');
  assert.equal(rewriteEvent('data: {"usage":null}\r\n\r\n'), 'data: {}\r\n\r\n');
  assert.equal(rewriteEvent('data: {"choices":[],"usage":{"prompt_tokens":1}}\n\n'), '', 'the usage chunk goes');
  assert.equal(rewriteEvent('data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":1}}\n\n'), 'data: {"choices":[{"delta":{}}]}\n\n', 'a chunk with choices keeps them');
  assert.equal(rewriteEvent('data: {"choices":[{"delta":{"content":"\\"usage\\":null"}}]}\n\n'), undefined, 'text inside a string is not a member');
  const crlf = chatStream('m', ['x'], true).join('').replaceAll('\n', '\r\n');
  assert.equal(strip([Buffer.from(crlf)]).out, chatStream('m', ['x'], false).join('').replaceAll('\n', '\r\n'));
});

test('sse usage: what is not one JSON object with usage passes as it came', () => {
  for (const ev of ['data: {not json "usage"\n\n', 'data: [DONE]\n\n', 'event: x\ndata: {"a":1}\ndata: {"usage":null}\n\n', ': comment "usage"\n\n', 'data: {"usage":null} trailing\n\n']) {
    assert.equal(strip([Buffer.from(ev)]).out, ev);
  }
  assert.equal(strip([Buffer.from('data: {"usage":null}')]).out, 'data: {"usage":null}', 'an unterminated last event is flushed unchanged at the end');
});

test('sse usage: an event over the limit stops the rewriting and nothing is lost', () => {
  const big = `data: {"choices":[{"delta":{"content":"${'x'.repeat(5000)}"}}],"usage":null}\n\n`;
  const tail = 'data: {"choices":[],"usage":{"prompt_tokens":3}}\n\ndata: [DONE]\n\n';
  const first = 'data: {"id":1,"usage":null}\n\n';
  const input = Buffer.from(first + big + tail);
  const r = strip([input.subarray(0, 2000), input.subarray(2000, 4000), input.subarray(4000)], 1024);
  assert.equal(r.out, 'data: {"id":1}\n\n' + big + tail);
  assert.equal(r.s.gaveUp, true);
});
