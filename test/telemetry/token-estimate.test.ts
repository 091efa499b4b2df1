/** token-estimate.ts, pure: what the tokenizer counts when an upstream reports no usage. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeUsage, estimateInputTokens, estimateOutputTokens, estimateSseOutputTokens } from '../../services/telemetry/token-estimate.ts';

test('token estimate: chat input counts text parts, names, tool calls and tool definitions; images count nothing', () => {
  const hi = estimateInputTokens({ messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(hi, 8, "OpenAI's count for one 'hi' message on gpt-4o");
  assert.equal(estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:...' } }] }] }), 8);
  assert.ok(estimateInputTokens({ messages: [{ role: 'user', content: 'hi', name: 'ann' }] })! > 8);
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  assert.ok(estimateInputTokens({ messages: [{ role: 'user', content: 'hi' }], tools })! > 8 + 5);
  assert.equal(estimateInputTokens({ prompt: [[1, 2, 3], [4]] }), 4, 'token id prompts count by length');
  assert.equal(estimateInputTokens({ input: 'hello world' }), 2);
  assert.equal(estimateInputTokens({ model: 'x' }), null);
  assert.equal(estimateInputTokens('not an object'), null);
});

test('token estimate: answers count content, reasoning, refusals and tool call arguments; SSE skips what is not a chunk', () => {
  assert.equal(estimateOutputTokens({ choices: [{ message: { role: 'assistant', content: 'Hello world' } }] }), 2);
  assert.equal(estimateOutputTokens({ choices: [{ text: 'Hello world' }] }), 2, 'completions');
  assert.ok(estimateOutputTokens({ choices: [{ message: { content: null, tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } }] })! >= 5);
  assert.equal(estimateOutputTokens({ data: [] }), null, 'an embedding answer has no output');
  const sse = ['data: {"choices":[{"delta":{"role":"assistant","content":""}}]}', 'data: {not json', ': comment',
    'data: {"choices":[{"delta":{"reasoning_content":"Hello"}}]}', 'data: {"choices":[{"delta":{"content":" world"}}]}', 'data: [DONE]', ''].join('\n\n');
  assert.equal(estimateSseOutputTokens(sse), 2);
  assert.equal(estimateSseOutputTokens('data: [DONE]\n\n'), null, 'no chunk, no count');
});

test('token estimate: only what usage lacks is filled, and only then marked', () => {
  const body = { messages: [{ role: 'user', content: 'hi' }] };
  assert.deepEqual(completeUsage({ tokensIn: 13, tokensOut: 4 }, body, () => 99), { usage: { tokensIn: 13, tokensOut: 4 }, estimated: false });
  assert.deepEqual(completeUsage({ tokensIn: 13, tokensOut: null }, body, () => 2), { usage: { tokensIn: 13, tokensOut: 2 }, estimated: true });
  assert.deepEqual(completeUsage(undefined, body, () => null), { usage: { tokensIn: 8, tokensOut: null }, estimated: true });
  assert.deepEqual(completeUsage(undefined, undefined, () => null), { usage: undefined, estimated: false });
});
