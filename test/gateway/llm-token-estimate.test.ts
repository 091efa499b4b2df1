/**
 * An upstream that reports no usage (ignores `stream_options.include_usage`, answers JSON without
 * `usage`): the gateway counts the tokens with its tokenizer and marks the event
 * `tokens_estimated`, in the request thread and in the telemetry thread alike; reported usage is
 * never replaced, and error answers are not counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { startTestGateway, threadedSink } from './helpers.ts';
import { startLlmStub } from './llm-stub.ts';

// OpenAI's own count for this request on gpt-4o (o200k_base): 3 to prime the answer, 3 per message,
// 1 for "user", 1 for "hi"; its answer "Hello world" is 2 tokens.
const MESSAGES = [{ role: 'user' as const, content: 'hi' }];
const PROMPT = 8;
const ANSWER = 2;

for (const inThread of [false, true]) {
  test(`token estimate (${inThread ? 'telemetry thread' : 'request thread'}): missing usage is counted and marked, reported usage is kept`, async (t) => {
    const stub = await startLlmStub(t);
    const thread = inThread ? await threadedSink(t) : undefined;
    const { gw, sink } = await startTestGateway(t, {
      models: { chat: { versions: { v1: { targets: [stub.url], upstreamModel: 'up-1', pricePerMillionTokens: { input: 2.5, output: 10 } } } } },
    }, thread ? { sink: thread.sink } : {});
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', maxRetries: 0 });

    stub.noUsage = true;
    const done = await client.chat.completions.create({ model: 'chat', messages: MESSAGES });
    assert.equal(done.usage, undefined, 'the client gets what the upstream sent');
    let text = '';
    for await (const c of await client.chat.completions.create({ model: 'chat', messages: MESSAGES, stream: true })) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Hello world');
    await client.embeddings.create({ model: 'chat', input: 'hello world', encoding_format: 'float' });
    stub.mode = 'error';
    await assert.rejects(client.chat.completions.create({ model: 'chat', messages: MESSAGES }));
    stub.mode = 'ok';
    stub.noUsage = false;
    await client.chat.completions.create({ model: 'chat', messages: MESSAGES });

    let events: TelemetryEvent[];
    if (thread) {
      await gw.close();
      events = await thread.events();
      assert.equal(thread.sink.builtHere, 0, 'built in the thread');
    } else {
      await sink.waitFor(5);
      events = sink.events;
    }
    assert.equal(events.length, 5);
    const [plain, streamed, embedded, failed, reported] = events;
    for (const [e, what] of [[plain, 'non-stream'], [streamed, 'stream']] as const) {
      assert.equal(e!.tokens_in, PROMPT, `${what}: prompt tokens counted`);
      assert.equal(e!.tokens_out, ANSWER, `${what}: answer tokens counted`);
      assert.equal(e!.tokens_estimated, true, `${what}: marked estimated`);
      assert.equal(e!.cost_usd, (PROMPT * 2.5 + ANSWER * 10) / 1e6, `${what}: the cost rests on the estimate`);
    }
    assert.equal(embedded!.tokens_in, 2, 'embedding input counted');
    assert.equal(embedded!.tokens_out, null, 'an embedding has no output tokens');
    assert.equal(embedded!.tokens_estimated, true);
    assert.equal(failed!.status, 500);
    assert.equal(failed!.tokens_in, null, 'an upstream error is not counted');
    assert.equal(failed!.tokens_estimated, false);
    assert.equal(reported!.tokens_in, 13, 'reported usage is kept, not re-counted');
    assert.equal(reported!.tokens_out, 4);
    assert.equal(reported!.tokens_estimated, false);
  });
}
