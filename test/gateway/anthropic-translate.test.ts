/**
 * The Anthropic adapter's pure translations: OpenAI chat request → Messages request (and what
 * is refused), Messages answer and error → OpenAI's, and the event-stream translator fed the
 * stub's stream whole, byte by byte and with CRLF framing, plus each way a stream can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_TOKENS, toMessagesRequest } from '../../services/gateway/proxy/providers/anthropic-request.ts';
import { clientStatusOf, finishReasonOf, fromError, fromMessage } from '../../services/gateway/proxy/providers/anthropic-response.ts';
import { AnthropicStreamTranslator, sseData } from '../../services/gateway/proxy/providers/anthropic-stream.ts';
import type { TranslatedChunk } from '../../services/gateway/proxy/providers/provider.ts';
import { anthropicEvent, anthropicStream, INPUT_TOKENS } from './anthropic-stub.ts';

const user = (content: unknown) => ({ role: 'user', content });

test('anthropic request: system and developer messages become system; defaults and renamed fields', () => {
  const r = toMessagesRequest({
    model: 'chat', stream: true, stream_options: { include_usage: true }, seed: 7, presence_penalty: 1, temperature: 0, top_p: 1, stop: ['a', 'b'],
    messages: [{ role: 'system', content: 'S1' }, { role: 'developer', content: [{ type: 'text', text: 'S' }, { type: 'text', text: '2' }] }, user('hi'), { role: 'assistant', content: null }],
  }, 'claude-x');
  assert.deepEqual(r, {
    ok: true,
    body: {
      model: 'claude-x', system: 'S1\n\nS2', max_tokens: DEFAULT_MAX_TOKENS, stop_sequences: ['a', 'b'], temperature: 0, top_p: 1, stream: true,
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '' }],
    },
  });
  const m = toMessagesRequest({ model: 'c', max_tokens: 10, max_completion_tokens: 20, stop: 'x', messages: [user('q')] }, 'u');
  assert.ok(m.ok);
  assert.deepEqual([m.body.max_tokens, m.body.stop_sequences, 'system' in m.body, 'stream' in m.body], [20, ['x'], false, false]);
  assert.equal(DEFAULT_MAX_TOKENS, 4096);
});

test('anthropic request: what cannot be translated is refused with the reason', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ tools: [{ type: 'function' }] }, /^"tools": tool calls are not translated/],
    [{ tool_choice: 'auto' }, /^"tool_choice"/],
    [{ functions: [] }, /^"functions"/],
    [{ function_call: 'auto' }, /^"function_call"/],
    [{ n: 2 }, /^"n": Anthropic versions answer one choice/],
    [{ logprobs: true }, /^"logprobs"/],
    [{ response_format: { type: 'json_object' } }, /^"response_format"/],
    [{ max_tokens: 0 }, /^"max_tokens" must be a positive integer/],
    [{ stop: [1] }, /^"stop" must be a string or an array of strings/],
    [{ messages: 'hi' }, /^"messages" must be an array/],
    [{ messages: [user([{ type: 'image_url', image_url: { url: 'x' } }])] }, /^messages\[0\]\.content\[0\] is a image_url part; only text parts/],
    [{ messages: [{ role: 'tool', content: 'r', tool_call_id: 'c' }] }, /^messages\[0\]: tool calls are not translated/],
    [{ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c' }] }] }, /^messages\[0\]: tool calls/],
    [{ messages: [{ role: 'robot', content: 'x' }] }, /^messages\[0\]\.role "robot" is not one of/],
  ];
  for (const [extra, reason] of cases) {
    const r = toMessagesRequest({ model: 'c', messages: [user('hi')], ...extra }, 'u');
    assert.equal(r.ok, false, JSON.stringify(extra));
    if (!r.ok) assert.match(r.reason, reason);
  }
  // n: 1, logprobs: false and a text response_format are fine.
  assert.ok(toMessagesRequest({ model: 'c', n: 1, logprobs: false, response_format: { type: 'text' }, messages: [] }, 'u').ok);
});

test('anthropic answers: stop reasons, a message, errors and their status', () => {
  assert.deepEqual(['end_turn', 'stop_sequence', 'max_tokens', 'tool_use', 'refusal', 'pause_turn', null].map(finishReasonOf),
    ['stop', 'stop', 'length', 'tool_calls', 'content_filter', 'stop', null]);
  const c = fromMessage({
    id: 'msg_1', type: 'message', model: 'claude-x', stop_reason: 'max_tokens',
    content: [{ type: 'thinking', thinking: 'hmm' }, { type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }],
    usage: { input_tokens: 5, cache_creation_input_tokens: 2, cache_read_input_tokens: 3, output_tokens: 4 },
  }, 1700000000);
  assert.deepEqual(c, {
    id: 'msg_1', object: 'chat.completion', created: 1700000000, model: 'claude-x',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello', refusal: null }, logprobs: null, finish_reason: 'length' }],
    usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 },
  });
  assert.equal(fromMessage({ type: 'error', error: {} }, 0), undefined);
  assert.equal(fromMessage('text', 0), undefined);

  assert.deepEqual(fromError(529, JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })),
    { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } });
  assert.deepEqual(fromError(502, '<html>bad gateway</html>').error, { message: 'the Anthropic upstream answered 502 with a body that is not JSON', type: 'api_error', param: null, code: 'api_error' });
  assert.equal(fromError(404, '{}').error.type, 'invalid_request_error');
  assert.deepEqual([529, 429, 400, 500].map(clientStatusOf), [503, 429, 400, 500]);
});

/** Feeds `parts` to a translator; the client's and the record's text. */
function feed(tr: AnthropicStreamTranslator, parts: readonly string[]): { client: string; record: string } {
  let client = '';
  let record = '';
  const add = (c: TranslatedChunk) => {
    client += c.client?.toString('utf8') ?? '';
    record += c.record?.toString('utf8') ?? '';
  };
  for (const p of parts) add(tr.push(Buffer.from(p)));
  add(tr.end());
  return { client, record };
}

/** The data lines of an SSE text, parsed ('[DONE]' kept as text). */
function datas(text: string): unknown[] {
  return text.split('\n\n').filter((s) => s !== '').map((s) => sseData(s)).map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
}

test('anthropic stream: the stub stream becomes OpenAI chunks, whole, byte by byte and with CRLF', () => {
  const events = anthropicStream('claude-x', ['Hel', 'lo'], 'stop_sequence');
  const whole = feed(new AnthropicStreamTranslator(false, 1700000000), [events.join('')]);
  const chunk = (delta: unknown, finish: string | null) => ({
    id: 'msg_01', object: 'chat.completion.chunk', created: 1700000000, model: 'claude-x', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  const usage = { id: 'msg_01', object: 'chat.completion.chunk', created: 1700000000, model: 'claude-x', choices: [], usage: { prompt_tokens: INPUT_TOKENS, completion_tokens: 2, total_tokens: INPUT_TOKENS + 2 } };
  assert.deepEqual(datas(whole.client), [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'Hel' }, null), chunk({ content: 'lo' }, null), chunk({}, 'stop'), '[DONE]']);
  assert.deepEqual(datas(whole.record), [...datas(whole.client).slice(0, 4), usage, '[DONE]'], 'the record always has the usage chunk');

  const asked = feed(new AnthropicStreamTranslator(true, 1700000000), events);
  assert.equal(asked.client, asked.record, 'a client that asked gets the usage chunk');

  const bytes = events.join('');
  const byByte = feed(new AnthropicStreamTranslator(false, 1700000000), [...bytes]);
  assert.deepEqual(byByte, whole);
  const crlf = feed(new AnthropicStreamTranslator(false, 1700000000), [bytes.replaceAll('\n', '\r\n')]);
  assert.deepEqual(crlf, whole);
  // Unknown event types and comments are ignored; nothing after message_stop is read.
  const extra = [events[0]!, ': a comment\n\n', anthropicEvent({ type: 'future_event', x: 1 }), ...events.slice(1), anthropicEvent({ type: 'content_block_delta', delta: { type: 'text_delta', text: 'late' } })];
  assert.deepEqual(feed(new AnthropicStreamTranslator(false, 1700000000), extra), whole);
});

test('anthropic stream: bad, huge and error events, and an early end, close the stream with an error event', () => {
  const events = anthropicStream('claude-x', ['Hel', 'lo']);
  const cases: Array<[string[], string, RegExp, number]> = [
    [[...events.slice(0, 4), 'data: {nope\n\n', ...events.slice(4)], 'MLG_GW_PROVIDER_BAD_ANSWER', /data is not JSON/, 1],
    [[...events.slice(0, 4), 'data: "x"\n\n'], 'MLG_GW_PROVIDER_BAD_ANSWER', /not a JSON object/, 1],
    [[...events.slice(0, 4), `data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"${'x'.repeat(300)}"}}\n\n`], 'MLG_GW_PROVIDER_BAD_ANSWER', /SSE event over 256 bytes/, 1],
    [[...events.slice(0, 4), anthropicEvent({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })], 'MLG_GW_PROVIDER_STREAM_ERROR', /Overloaded/, 1],
    [events.slice(0, 4), 'MLG_GW_PROVIDER_BAD_ANSWER', /ended its stream before message_stop/, 1],
  ];
  for (const [parts, code, message, out] of cases) {
    const tr = new AnthropicStreamTranslator(false, 1700000000, 256);
    const { client, record } = feed(tr, parts);
    assert.equal(tr.failure, code, String(message));
    const ds = datas(client) as Array<{ error?: { code: string; message: string }; choices?: Array<{ delta: { content?: string } }> }>;
    assert.equal(ds.at(-1)!.error?.code === code || ds.at(-1)!.error?.code === 'overloaded_error', true, JSON.stringify(ds.at(-1)));
    assert.match(ds.at(-1)!.error!.message, message);
    assert.equal(ds.filter((d) => d.choices?.[0]?.delta.content).length, out, 'the text before the failure was sent');
    assert.equal(client, record);
    assert.ok(!client.includes('[DONE]'), 'a failed stream does not end with [DONE]');
    const u = tr.usageSoFar();
    assert.deepEqual((datas(u!.toString()) as Array<{ usage: unknown }>)[0]!.usage, { prompt_tokens: INPUT_TOKENS, completion_tokens: 1, total_tokens: INPUT_TOKENS + 1 });
    assert.equal(tr.usageSoFar(), undefined, 'once');
  }
  // A finished stream has its usage recorded already; a stream without message_start knows nothing.
  const done = new AnthropicStreamTranslator(false, 0);
  feed(done, events);
  assert.equal(done.usageSoFar(), undefined);
  assert.equal(new AnthropicStreamTranslator(false, 0).usageSoFar(), undefined);
});
