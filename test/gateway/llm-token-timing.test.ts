/**
 * Token timing of LLM streams (sse-tokens.ts), through the running gateway against the
 * OpenAI-compatible stub with controlled gaps between its chunks: time to first token leaves
 * the role chunk out, inter-token latency and the output rate fall within generous bounds of the
 * configured gaps, and each field is null where it has no meaning. The scanner itself, pure:
 * which chunks carry output, however the network split them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startTestGateway } from './helpers.ts';
import { startLlmStub } from './llm-stub.ts';
import { GapHistogram, TokenTimer } from '../../services/gateway/proxy/sse-tokens.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';

const FIRST_GAP_MS = 300;
const GAP_MS = 60;
/** Timers may fire a little early (rounding); everything else only makes gaps longer. */
const EARLY = 0.9;
/** Generous upper bound for a loaded machine: the gaps are asserted to be plausible, not exact. */
const LATE_MS = 2000;

async function chat(url: string, body: Record<string, unknown>): Promise<string> {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.statusCode, 200);
  return res.body.text();
}

test('llm token timing: ttft leaves the role chunk out; itl and output rate match the stream\'s gaps; null where meaningless', async (t) => {
  const stub = await startLlmStub(t);
  stub.firstGapMs = FIRST_GAP_MS;
  stub.gapMs = GAP_MS;
  const { gw, sink } = await startTestGateway(t, {
    models: {
      chat: { versions: { v1: { targets: [stub.url] } } },
      raw: { versions: { v1: { targets: [stub.url], streamUsage: false } } },
    },
  });

  // 1. A stream of 4 content chunks, usage asked by the gateway: every field.
  await chat(gw.url, { model: 'chat', stream: true, messages: [] });
  await sink.waitFor(1);
  const ev = sink.events[0]! as TelemetryEvent;
  assert.ok(ev.ttfb_ms !== null && ev.ttft_ms != null);
  assert.ok(ev.ttft_ms >= FIRST_GAP_MS * EARLY, `ttft ${ev.ttft_ms} ms counts from the first content chunk, sent ${FIRST_GAP_MS} ms after the role chunk`);
  assert.ok(ev.ttft_ms <= ev.latency_ms);
  assert.ok(ev.ttfb_ms < ev.ttft_ms - FIRST_GAP_MS * EARLY, `the first byte (the role chunk, ${ev.ttfb_ms} ms) came well before the first token (${ev.ttft_ms} ms)`);
  assert.ok(ev.itl_mean_ms != null && ev.itl_p95_ms != null);
  assert.ok(ev.itl_mean_ms >= GAP_MS * EARLY && ev.itl_mean_ms <= GAP_MS + LATE_MS, `itl mean ${ev.itl_mean_ms} ms for gaps of ${GAP_MS} ms`);
  assert.ok(ev.itl_p95_ms >= ev.itl_mean_ms && ev.itl_p95_ms >= GAP_MS * EARLY && ev.itl_p95_ms <= GAP_MS + LATE_MS, `itl p95 ${ev.itl_p95_ms} ms`);
  assert.equal(ev.tokens_out, 4);
  // 3 tokens after the first over 3 gaps: at most 1000 / (GAP_MS · EARLY) tokens/s, at least 3 over the bound.
  assert.ok(ev.output_tps != null && ev.output_tps <= 1000 / (GAP_MS * EARLY) && ev.output_tps >= 3000 / (3 * (GAP_MS + LATE_MS)), `output ${ev.output_tps} tokens/s`);

  // 2. Not streamed: no timing at all.
  await chat(gw.url, { model: 'chat', messages: [] });
  // 3. Streamed without usage (streamUsage off, the client did not ask): timing, and an output rate from the gateway's own token count.
  await chat(gw.url, { model: 'raw', stream: true, messages: [] });
  // 4. One content chunk: a first token, no gaps.
  stub.pieces = ['only'];
  await chat(gw.url, { model: 'chat', stream: true, messages: [] });
  // 5. No content at all (the role chunk and the finish chunk only): nothing.
  stub.pieces = [];
  await chat(gw.url, { model: 'chat', stream: true, messages: [] });
  await sink.waitFor(5);
  const [, plain, noUsage, one, none] = sink.events as TelemetryEvent[];
  const timing = (e: TelemetryEvent) => [e.ttft_ms, e.itl_mean_ms, e.itl_p95_ms, e.output_tps];
  assert.deepEqual(timing(plain!), [null, null, null, null], 'a non-streamed answer has no token timing');
  assert.ok(noUsage!.ttft_ms != null && noUsage!.ttft_ms >= FIRST_GAP_MS * EARLY && noUsage!.itl_mean_ms != null);
  assert.deepEqual([noUsage!.tokens_out, noUsage!.tokens_estimated], [2, true], 'no usage came: the gateway counted the answer');
  assert.ok((noUsage!.output_tps ?? 0) > 0, 'so the stream has an output rate too');
  assert.ok(one!.ttft_ms != null && one!.ttft_ms >= FIRST_GAP_MS * EARLY);
  assert.deepEqual(timing(one!).slice(1), [null, null, null], 'one content chunk: no gap, no rate');
  assert.deepEqual(timing(none!), [null, null, null, null], 'a stream without content has no first token');
  assert.ok(none!.ttfb_ms !== null, 'while it did have a first byte');
});

test('llm token timing: a shadow copy of a stream is timed too, under the shadow version\'s own upstream model', async (t) => {
  const stub = await startLlmStub(t);
  stub.firstGapMs = FIRST_GAP_MS;
  stub.gapMs = GAP_MS;
  const { gw, sink } = await startTestGateway(t, {
    models: {
      chat: {
        versions: { v1: { targets: [stub.url], upstreamModel: 'served-a' }, v2: { targets: [stub.url], upstreamModel: 'served-b' } },
        weights: { v1: 100, v2: 0 },
        shadow: { version: 'v2', percent: 100 },
      },
    },
  });
  await chat(gw.url, { model: 'chat', stream: true, messages: [] });
  await sink.waitFor(2);
  const events = sink.events as TelemetryEvent[];
  const primary = events.find((e) => e.role !== 'shadow')!;
  const shadow = events.find((e) => e.role === 'shadow')!;
  assert.equal(shadow.correlation_id, primary.event_id);
  assert.deepEqual([primary.upstream_model, shadow.upstream_model], ['served-a', 'served-b']);
  assert.ok(shadow.ttft_ms != null && shadow.ttft_ms >= FIRST_GAP_MS * EARLY, `shadow ttft ${shadow.ttft_ms} ms, first content ${FIRST_GAP_MS} ms after the role chunk`);
  assert.ok(shadow.itl_mean_ms != null && shadow.itl_mean_ms >= GAP_MS * EARLY && shadow.itl_mean_ms <= GAP_MS + LATE_MS, `shadow itl ${shadow.itl_mean_ms} ms`);
  assert.equal(shadow.tokens_out, 4, 'the gateway asked the shadow upstream for usage too');
  assert.ok(shadow.output_tps != null && shadow.output_tps > 0);
});

/** Runs `text` through a timer, `cut` bytes per chunk, chunk i arriving at time i. */
function timeStream(text: string, cut = text.length): TokenTimer {
  const tt = new TokenTimer();
  const b = Buffer.from(text);
  let now = 0;
  for (let i = 0; i < b.length; i += cut) tt.push(b.subarray(i, i + cut), now++);
  tt.end(now);
  return tt;
}

const ev = (json: string) => `data: ${json}\n\n`;

test('token timer: which events carry output (content, text, tool calls), however the bytes were split', () => {
  const stream = [
    ev('{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}'), // role chunk
    ': keep-alive "quote\n\n', // a comment with an unbalanced quote
    ev('{"choices":[{"delta":{"content":null,"refusal":null}}],"usage":null}'),
    ev('{"choices":[{"delta":{"content":"He said \\"content\\":\\"x\\""}}]}'), // 1: output (escaped look-alike inside)
    ev('{"choices":[{"text":"completion text","index":0}]}'), // 2: legacy completions
    ev('{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}'), // 3: a tool-call delta
    ev('{"choices":[{"delta":{"tool_calls":[]}}]}'),
    ev('{"choices":[{"delta":{},"finish_reason":"stop"}]}'),
    ev('{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":3}}'),
    ev('{"note":"\\"content\\": \\"not a member\\""}'),
    'data: [DONE]\n\n',
  ].join('');
  const whole = timeStream(stream);
  assert.equal(whole.events, 3);
  for (let cut = 1; cut <= 64; cut++) assert.equal(timeStream(stream, cut).events, 3, `split every ${cut} bytes`);
  assert.equal(timeStream(stream.replaceAll('\n', '\r\n'), 5).events, 3, 'CRLF line ends');
  assert.equal(timeStream(ev('{ "choices" : [ { "delta" : { "content" : "spaced" } } ] }')).events, 1, 'white space around keys and values');
  assert.equal(timeStream('data: {"choices":[{"delta":{"content":"unterminated"}}]}').events, 1, 'the last event without its blank line counts at the end');
});

test('token timer: first and last output times, mean and p95 of the gaps; null with fewer than 2', () => {
  const tt = new TokenTimer();
  const content = Buffer.from(ev('{"choices":[{"delta":{"content":"x"}}]}'));
  tt.push(Buffer.from(ev('{"choices":[{"delta":{"role":"assistant","content":""}}]}')), 1);
  assert.equal(tt.events, 0);
  tt.push(content, 100);
  assert.equal(tt.tFirst, 100);
  assert.equal(tt.meanGap(), null);
  assert.equal(tt.p95Gap(), null);
  // 19 gaps of 10 ms and one of 500 ms: mean 34.5, p95 (the 19th of 20) 10 ms within the bucket width.
  let now = 100;
  for (let i = 0; i < 19; i++) tt.push(content, (now += 10));
  tt.push(content, (now += 500));
  assert.equal(tt.events, 21);
  assert.equal(tt.tLast, now);
  assert.equal(tt.tFirst, 100);
  assert.equal(tt.meanGap(), 690 / 20);
  assert.ok(Math.abs(tt.p95Gap()! - 10) <= 0.25, `p95 ${tt.p95Gap()}`);
  tt.push(content, now + 500);
  assert.ok(Math.abs(tt.p95Gap()! - 500) <= 12.5, `p95 ${tt.p95Gap()} once 2 of 21 gaps are 500 ms`);
  // With 20 gaps or fewer the p95 is the largest gap, exactly.
  const few = new TokenTimer();
  for (const at of [0, 10, 20, 30, 737]) few.push(content, at);
  assert.equal(few.p95Gap(), 707);
  // Two output events in one read: a gap of 0, as the client sees them.
  const two = new TokenTimer();
  two.push(Buffer.concat([content, content]), 5);
  assert.equal(two.events, 2);
  assert.equal(two.meanGap(), 0);
});

test('gap histogram: bounded relative error over the whole range', () => {
  for (const ms of [0.05, 0.3, 1, 7.5, 42, 333, 5000, 60_000]) {
    const h = new GapHistogram();
    for (let i = 0; i < 10; i++) h.add(ms * (i === 9 ? 3 : 1));
    const p = h.quantile(0.5)!;
    assert.ok(Math.abs(p - ms) / ms <= 0.025, `p50 ${p} for ${ms}`);
  }
  const h = new GapHistogram();
  h.add(10 * 60_000);
  h.add(0);
  assert.equal(h.quantile(0.95), 10 * 60_000, 'beyond the last bucket: the maximum');
  assert.ok(h.quantile(0.5)! < GapHistogram.MIN_MS, 'below the first bucket: under its bound');
});
