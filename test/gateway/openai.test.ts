/**
 * OpenAI-style routes: the model comes from the JSON body, `/v1` is replaced by the target's
 * path, tokens come from `usage`, and a body without a model is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandIn } from '../support/upstream.ts';
import { startTestGateway, call, model } from './helpers.ts';

test('openai: chat, completions and embeddings route by the body model and report tokens', async (t) => {
  const llm = await startStandIn({ name: 'llm', t });
  const emb = await startStandIn({ name: 'emb', t });
  const { gw, sink } = await startTestGateway(t, {
    models: { 'chat-model': model({ v1: `${llm.url}/openai/v1` }), 'embed-model': model({ v1: emb.url }) },
  });
  const chat = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat-model', messages: [{ role: 'user', content: 'hello' }] } });
  assert.equal(chat.status, 200);
  assert.equal(chat.json.object, 'chat.completion');
  assert.equal(llm.requests[0]!.path, '/openai/v1/chat/completions', 'the target URL path replaces /v1');
  const comp = await call(`${gw.url}/v1/completions`, { body: { model: 'chat-model', prompt: 'x' } });
  assert.equal(comp.status, 200);
  const e = await call(`${gw.url}/v1/embeddings`, { body: { model: 'embed-model', input: 'x' } });
  assert.equal(e.status, 200);
  assert.equal(emb.requests[0]!.path, '/embeddings');
  await sink.waitFor(3);
  const [c1, c2, c3] = sink.events;
  assert.deepEqual([c1!.model, c1!.tokens_in, c1!.tokens_out, c1!.route], ['chat-model', 11, 5, '/v1/chat/completions']);
  assert.deepEqual([c2!.tokens_in, c2!.tokens_out], [11, 5]);
  assert.deepEqual([c3!.model, c3!.tokens_in, c3!.tokens_out], ['embed-model', 4, null]);
});

test('openai: a body without a model, or an unknown model, is refused with its event', async (t) => {
  const llm = await startStandIn({ name: 'llm', t });
  const { gw, sink } = await startTestGateway(t, { models: { a: model({ v1: llm.url }) } });
  const noModel = await call(`${gw.url}/v1/chat/completions`, { body: { messages: [] } });
  assert.equal(noModel.status, 400);
  assert.match(noModel.json.error.message, /must name the model/);
  const unknown = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'zzz', messages: [] } });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'MLG_GW_UNKNOWN_MODEL');
  await sink.waitFor(2);
  assert.deepEqual(sink.events.map((e) => e.outcome), ['bad_request', 'not_found']);
  assert.equal(sink.events[1]!.model, 'unknown', 'a name that is not configured is not stored');
  assert.equal(llm.count, 0);
});
