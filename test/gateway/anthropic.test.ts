/**
 * The Anthropic Messages adapter, driven by the official `openai` SDK through the gateway
 * against a stub Anthropic upstream (anthropic-stub.ts, which checks the translated request the
 * way the real API would): a chat completion, streams with and without include_usage, upstream
 * errors (429 keeps its own outcome, 529 becomes 503), answers that cannot be translated,
 * requests the adapter refuses, an abort mid-stream, and an event with tokens and timing for
 * each of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { request } from 'undici';
import { call, gatewayConfig, startTestGateway, type TestGateway } from './helpers.ts';
import { INPUT_TOKENS, startAnthropicStub, type AnthropicStub } from './anthropic-stub.ts';
import { startLlmStub } from './llm-stub.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { createLogger } from '../../services/core/log.ts';

const UPSTREAM_MODEL = 'claude-test-4-5';
const ENV = 'MLGATE_TEST_ANTHROPIC_KEY';
type ApiError = InstanceType<typeof OpenAI.APIError>;

/** A gateway with model `chat` on an Anthropic version whose upstream is `stub`. */
async function setup(t: Parameters<typeof startAnthropicStub>[0], stub: AnthropicStub, logLines?: string[]): Promise<TestGateway & { client: OpenAI; key: string }> {
  const key = `sk-ant-test-${randomBytes(8).toString('hex')}`;
  process.env[ENV] = key;
  t.after(() => { delete process.env[ENV]; });
  const gw = await startTestGateway(t, {
    models: {
      chat: {
        versions: {
          claude: {
            provider: 'anthropic', targets: [stub.url], upstreamModel: UPSTREAM_MODEL, breaker: { enabled: false },
            credentials: { 'x-api-key': { env: ENV } },
          },
        },
      },
    },
  }, logLines ? { logger: createLogger({ service: 'gateway', level: 'warn', destination: { write: (line: string) => { logLines.push(line); } } }) } : {});
  return { ...gw, client: new OpenAI({ baseURL: `${gw.gw.url}/v1`, apiKey: 'client-key-not-forwarded', maxRetries: 0 }), key };
}

/** The event number `n` (1-based), once it is there. */
async function eventNo(gw: TestGateway, n: number): Promise<TelemetryEvent> {
  await gw.sink.waitFor(n);
  return gw.sink.events[n - 1]!;
}

/** `p`, or a failure naming `what` after `ms` (a deadline, not a wait: `p` settles first when all is well). */
async function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Raw bytes of a chat stream through the gateway. */
async function rawStream(url: string, body: Record<string, unknown>): Promise<string> {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  return res.body.text();
}

test('anthropic: a chat completion is translated both ways; the event has tokens and both model names', async (t) => {
  const stub = await startAnthropicStub(t);
  const gw = await setup(t, stub);
  const r = await gw.client.chat.completions.create({
    model: 'chat', temperature: 0.2, top_p: 0.9, stop: 'END', user: 'u-1',
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }, { role: 'assistant', content: 'Hi?' }, { role: 'user', content: [{ type: 'text', text: 'Again' }] }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0]!.message.content, 'Hello world');
  assert.equal(r.choices[0]!.finish_reason, 'stop');
  assert.deepEqual(r.usage, { prompt_tokens: INPUT_TOKENS, completion_tokens: 4, total_tokens: INPUT_TOKENS + 4 });

  const sent = stub.requests[0]!;
  assert.equal(sent.path, '/v1/messages');
  assert.equal(sent.headers['x-api-key'], gw.key, 'the configured credential');
  assert.equal(sent.headers.authorization, undefined, "the client's key is not forwarded");
  assert.equal(sent.headers['anthropic-version'], '2023-06-01');
  assert.equal(sent.headers['accept-encoding'], 'identity', 'the translators read the bytes: no compressed answer');
  assert.deepEqual(sent.json, {
    model: UPSTREAM_MODEL, system: 'Be brief.', max_tokens: 4096, stop_sequences: ['END'], temperature: 0.2, top_p: 0.9,
    metadata: { user_id: 'u-1' },
    messages: [{ role: 'user', content: 'Say hello' }, { role: 'assistant', content: 'Hi?' }, { role: 'user', content: 'Again' }],
  });

  // max_tokens given is passed; Anthropic's max_tokens stop is OpenAI's `length`.
  stub.stopReason = 'max_tokens';
  const cut = await gw.client.chat.completions.create({ model: 'chat', max_tokens: 4, messages: [{ role: 'user', content: 'x' }] });
  assert.equal(stub.requests[1]!.json.max_tokens, 4);
  assert.equal(cut.choices[0]!.finish_reason, 'length');

  const e = await eventNo(gw, 1);
  assert.deepEqual([e.model, e.upstream_model, e.version, e.outcome, e.status], ['chat', UPSTREAM_MODEL, 'claude', 'ok', 200]);
  assert.deepEqual([e.tokens_in, e.tokens_out], [INPUT_TOKENS, 4]);
  assert.equal(e.ttft_ms, null, 'no token timing on an answer that was not streamed');
  const all = JSON.stringify(gw.sink.events);
  assert.ok(!all.includes(gw.key), 'the provider key is in no event');
});

test('anthropic: streams become chat.completion.chunk streams; usage only when asked, tokens and ttft always', async (t) => {
  const stub = await startAnthropicStub(t);
  const gw = await setup(t, stub);

  // The SDK's default: no include_usage. The client gets no usage chunk.
  stub.firstGapMs = 80;
  const stream = await gw.client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const pieces: string[] = [];
  const finishes: Array<string | null> = [];
  let usageSeen = false;
  for await (const c of stream) {
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.usage) usageSeen = true;
    pieces.push(c.choices[0]?.delta.content ?? '');
    finishes.push(c.choices[0]?.finish_reason ?? null);
  }
  assert.equal(pieces.join(''), 'Hello world');
  assert.equal(finishes.at(-1), 'stop');
  assert.equal(usageSeen, false, 'no usage chunk for a client that did not ask');
  assert.equal(stub.requests[0]!.json.stream, true);
  stub.firstGapMs = 0;

  // With include_usage: the usage chunk before [DONE].
  const asked = await gw.client.chat.completions.create({ model: 'chat', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const c of asked) if (c.usage) usage = c.usage;
  assert.deepEqual(usage, { prompt_tokens: INPUT_TOKENS, completion_tokens: 4, total_tokens: INPUT_TOKENS + 4 });
  assert.equal(stub.requests[1]!.json.stream_options, undefined, 'stream_options is not an Anthropic field');

  // The raw bytes: OpenAI's SSE framing, ending with [DONE].
  const raw = await rawStream(gw.gw.url, { model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const datas = raw.split('\n\n').filter((s) => s !== '').map((s) => s.replace(/^data: /, ''));
  assert.equal(datas.at(-1), '[DONE]');
  assert.deepEqual(JSON.parse(datas[0]!).choices[0].delta, { role: 'assistant', content: '' });
  assert.equal(raw.includes('"usage"'), false);

  const events = [await eventNo(gw, 1), await eventNo(gw, 2), await eventNo(gw, 3)];
  for (const e of events) {
    assert.deepEqual([e.outcome, e.tokens_in, e.tokens_out, e.upstream_model], ['ok', INPUT_TOKENS, 4, UPSTREAM_MODEL]);
    assert.ok(e.ttft_ms !== null && e.itl_mean_ms !== null && e.itl_p95_ms !== null && e.output_tps !== null, JSON.stringify(e));
  }
  // Time to first token is the first text delta, not the role chunk sent at message_start.
  const first = events[0]!;
  assert.ok(first.ttft_ms! >= 80, `ttft ${first.ttft_ms} covers the stub's 80 ms wait before its first text delta`);
  assert.ok(first.ttfb_ms! < first.ttft_ms!, `ttfb ${first.ttfb_ms} is the role chunk, before the first token ${first.ttft_ms}`);
});

test('anthropic: upstream errors become OpenAI errors with the right status and outcome', async (t) => {
  const stub = await startAnthropicStub(t);
  const gw = await setup(t, stub);
  stub.mode = 'error';
  const cases: Array<[number, number, string, string]> = [
    [400, 400, 'invalid_request_error', 'bad_request'],
    [429, 429, 'rate_limit_error', 'upstream_rate_limited'],
    [500, 500, 'api_error', 'upstream_error'],
    [529, 503, 'overloaded_error', 'upstream_error'],
  ];
  let n = 0;
  for (const [upstream, status, type, outcome] of cases) {
    stub.errorStatus = upstream;
    for (const stream of [false, true]) {
      await assert.rejects(gw.client.chat.completions.create({ model: 'chat', stream, messages: [{ role: 'user', content: 'hi' }] }), (err: ApiError) => {
        assert.equal(err.status, status, `${upstream} -> ${status}`);
        assert.equal(err.type, type);
        assert.equal(err.message, `${status} stub error ${upstream}`);
        if (upstream === 429) assert.equal(err.headers?.get('retry-after'), '7', "the upstream's Retry-After reaches the client");
        return true;
      });
      const e = await eventNo(gw, ++n);
      assert.deepEqual([e.status, e.outcome, e.error_class], [status, outcome, `http_${upstream}`]);
    }
  }
});

test('anthropic: answers that cannot be translated get a clear error and keep their event', async (t) => {
  const stub = await startAnthropicStub(t);
  const logLines: string[] = [];
  const gw = await setup(t, stub, logLines);
  let n = 0;

  stub.mode = 'not_json';
  const html = await call(`${gw.gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(html.status, 502);
  assert.deepEqual([html.json.error.code, html.json.error.message], ['MLG_GW_PROVIDER_BAD_ANSWER', 'the Anthropic upstream answered with a body that is not JSON']);
  let e = await eventNo(gw, ++n);
  assert.deepEqual([e.status, e.outcome, e.error_class], [502, 'upstream_error', 'MLG_GW_PROVIDER_BAD_ANSWER']);

  // Mid-stream failures: the client got the first text, then an error event the SDK throws on.
  const modes: Array<[AnthropicStub['mode'], string, RegExp]> = [
    ['bad_sse', 'MLG_GW_PROVIDER_BAD_ANSWER', /not JSON/],
    ['huge_sse', 'MLG_GW_PROVIDER_BAD_ANSWER', /over 1048576 bytes/],
    ['stream_error', 'MLG_GW_PROVIDER_STREAM_ERROR', /Overloaded/],
    ['cut', 'MLG_GW_PROVIDER_BAD_ANSWER', /before message_stop/],
  ];
  for (const [mode, code, message] of modes) {
    stub.mode = mode;
    const stream = await gw.client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    await assert.rejects((async () => { for await (const c of stream) text += c.choices[0]?.delta.content ?? ''; })(), (err: Error) => {
      assert.match(err.message, message, mode);
      return true;
    });
    assert.equal(text, 'Hel', `${mode}: what came before the failure reached the client`);
    e = await eventNo(gw, ++n);
    assert.deepEqual([e.outcome, e.error_class], ['upstream_error', code], mode);
    assert.deepEqual([e.tokens_in, e.tokens_out], [INPUT_TOKENS, 1], `${mode}: the tokens known so far are recorded`);
    assert.ok(e.ttft_ms !== null, `${mode}: the first token was timed`);
    // The stub holds its stream after the malformed event: the gateway must hang up on it.
    if (mode === 'bad_sse') await within(stub.aborted(), 'the gateway closing the upstream after a malformed event');
  }
  stub.release();
  const warned = logLines.filter((l) => l.includes('could not be translated to the OpenAI shape'));
  assert.equal(warned.length, 4, 'one warning per untranslatable answer (the error event of the stream is the provider\'s own)');
  assert.ok(warned.every((l) => JSON.parse(l).version === 'claude'));
});

test('anthropic: what the adapter does not translate is refused with a 400 naming it, and reaches no upstream', async (t) => {
  const stub = await startAnthropicStub(t);
  const gw = await setup(t, stub);
  const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }];
  await assert.rejects(gw.client.chat.completions.create({ model: 'chat', tools, messages: [{ role: 'user', content: 'hi' }] }), (err: ApiError) => {
    assert.equal(err.status, 400);
    assert.equal(err.code, 'MLG_GW_PROVIDER_UNSUPPORTED');
    assert.match(err.message, /"tools": tool calls are not translated for Anthropic versions yet/);
    return true;
  });
  await assert.rejects(gw.client.chat.completions.create({ model: 'chat', n: 2, messages: [{ role: 'user', content: 'hi' }] }), (err: ApiError) => err.status === 400 && /"n"/.test(err.message));
  await assert.rejects(gw.client.embeddings.create({ model: 'chat', input: 'x' }), (err: ApiError) => {
    assert.equal(err.status, 400);
    assert.match(err.message, /\/v1\/embeddings is not translated for Anthropic versions/);
    return true;
  });
  assert.equal(stub.requests.length, 0);
  await gw.sink.waitFor(3);
  assert.deepEqual(gw.sink.events.map((e) => [e.outcome, e.error_class]), Array(3).fill(['bad_request', 'MLG_GW_PROVIDER_UNSUPPORTED']));
});

test('anthropic: an abort mid-stream reaches the upstream; the event has the tokens so far and ttft', async (t) => {
  const stub = await startAnthropicStub(t);
  const gw = await setup(t, stub);
  stub.mode = 'hold';
  const ac = new AbortController();
  const stream = await gw.client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { signal: ac.signal });
  const upstreamClosed = stub.aborted();
  let text = '';
  try {
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (text !== '') ac.abort();
    }
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIUserAbortError || (err as Error).name === 'AbortError', String(err));
  }
  assert.equal(text, 'Hel');
  await within(upstreamClosed, 'the abort reaching the upstream');
  const e = await eventNo(gw, 1);
  assert.equal(e.outcome, 'client_closed');
  assert.deepEqual([e.tokens_in, e.tokens_out], [INPUT_TOKENS, 1]);
  assert.ok(e.ttft_ms !== null);
  stub.release();
});

test('anthropic: an unknown provider is refused at config load, naming the field', () => {
  assert.throws(
    () => gatewayConfig({ models: { chat: { versions: { v1: { targets: ['http://127.0.0.1:9/v1'], provider: 'antropic' } } } } }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MLG_CORE_CONFIG_INVALID');
      assert.match(err.message, /models\.chat\.versions\.v1\.provider: Invalid option: expected one of "openai"\|"anthropic"/);
      return true;
    },
  );
  assert.equal(gatewayConfig({ models: { chat: { versions: { v1: { targets: ['http://127.0.0.1:9/v1'] } } } } }).models.chat!.versions.v1!.provider, 'openai');
});

test('anthropic: a shadow copy to an Anthropic version is translated, its event has tokens; what it cannot take is not sent', async (t) => {
  const stub = await startAnthropicStub(t);
  const primary = await startLlmStub(t);
  process.env[ENV] = 'sk-ant-shadow';
  t.after(() => { delete process.env[ENV]; });
  const gw = await startTestGateway(t, {
    models: {
      chat: {
        weights: { gpt: 100, claude: 0 },
        shadow: { version: 'claude', percent: 100 },
        versions: {
          gpt: { targets: [primary.url] },
          claude: { provider: 'anthropic', targets: [stub.url], upstreamModel: UPSTREAM_MODEL, credentials: { 'x-api-key': { env: ENV } } },
        },
      },
    },
  });
  const client = new OpenAI({ baseURL: `${gw.gw.url}/v1`, apiKey: 'k', maxRetries: 0 });
  await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
  for await (const _ of await client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
  const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }];
  await client.chat.completions.create({ model: 'chat', tools, messages: [{ role: 'user', content: 'hi' }] });
  await gw.sink.waitFor(6);
  const shadows = gw.sink.events.filter((e) => e.role === 'shadow');
  assert.equal(shadows.length, 3);
  const answered = shadows.filter((e) => e.outcome === 'ok');
  assert.equal(answered.length, 2);
  for (const e of answered) assert.deepEqual([e.version, e.tokens_in, e.tokens_out, e.upstream_model], ['claude', INPUT_TOKENS, 4, UPSTREAM_MODEL], 'the translated answer is recorded');
  // The streamed copy is timed on its translation: a first token, after the first byte.
  const streamed = answered.filter((e) => e.ttft_ms != null);
  assert.equal(streamed.length, 1, 'the streamed copy has token timing, the other none');
  assert.ok(streamed[0]!.ttfb_ms !== null && streamed[0]!.ttft_ms! >= streamed[0]!.ttfb_ms, `ttft ${streamed[0]!.ttft_ms} ms after ttfb ${streamed[0]!.ttfb_ms} ms`);
  const refused = shadows.find((e) => e.outcome !== 'ok')!;
  assert.deepEqual([refused.outcome, refused.error_class, refused.status], ['bad_request', 'MLG_GW_PROVIDER_UNSUPPORTED', 400]);
  assert.equal(stub.requests.length, 2, 'the tools request never reached the Anthropic upstream');
  assert.ok(stub.requests.every((r) => r.path === '/v1/messages'));
});
