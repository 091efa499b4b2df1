/**
 * LLM providers behind the gateway, driven by the official `openai` SDK against an
 * OpenAI-compatible stub upstream (llm-stub.ts): per-version upstream credentials from an
 * environment variable or a file, the per-version upstream model, usage asked for on every
 * stream and stripped so the client's stream is byte for byte what it would have been, the
 * model list, upstream errors (429 has its own outcome), bad upstream input and aborts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { createLogger, type Logger } from '../../services/core/log.ts';
import { request } from 'undici';
import { startTestGateway, admin, call, gatewayConfig } from './helpers.ts';
import { startLlmStub, chatStream } from './llm-stub.ts';
import { startGateway } from '../../services/gateway/gateway.ts';
import { MemorySink } from '../../services/telemetry/sink.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { createApiKey } from '../../services/gateway/edge/api-keys.ts';

const UPSTREAM_MODEL = 'gpt-4o-mini-2024-07-18';
const ENV = 'MLGATE_TEST_LLM_KEY';

function secret(): string {
  return `sk-test-${randomBytes(12).toString('hex')}`;
}

/** A logger whose lines the test reads. */
function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ service: 'gateway', level: 'debug', destination: { write: (s: string) => { lines.push(s); } } }), lines };
}

/** Raw bytes of a chat stream through the gateway. */
async function rawStream(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  assert.equal(res.statusCode, 200);
  return res.body.text();
}

test('llm: credentials from env, upstream model, usage on every stream; the secret is nowhere but upstream', async (t) => {
  const key = secret();
  process.env[ENV] = key;
  t.after(() => { delete process.env[ENV]; });
  const stub = await startLlmStub(t);
  const { logger, lines } = capturedLogger();
  const { gw, sink, config } = await startTestGateway(t, {
    models: {
      chat: { versions: { v1: { targets: [stub.url], upstreamModel: UPSTREAM_MODEL, credentials: { authorization: { env: ENV, prefix: 'Bearer ' } } } } },
    },
  }, { logger });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-own-key-never-forwarded', maxRetries: 0 });

  const done = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(done.choices[0]!.message.content, 'Hello world');
  assert.equal(stub.requests[0]!.headers.authorization, `Bearer ${key}`, 'the upstream got the configured credential');
  assert.equal(stub.requests[0]!.json.model, UPSTREAM_MODEL, 'the upstream got its own model name');

  // A stream without include_usage (the SDK default): usage asked upstream, stripped for the client.
  const pieces: string[] = [];
  const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true });
  let usageSeen = false;
  for await (const chunk of stream) {
    pieces.push(chunk.choices[0]?.delta.content ?? '');
    if ('usage' in chunk) usageSeen = true;
  }
  assert.equal(pieces.join(''), 'Hello world');
  assert.equal(usageSeen, false, 'the client that did not ask gets no usage member and no usage chunk');
  assert.deepEqual(stub.requests[1]!.json.stream_options, { include_usage: true });
  // Byte for byte: what the upstream sends without include_usage.
  const raw = await rawStream(gw.url, { model: 'chat', messages: [], stream: true });
  assert.equal(raw, chatStream(UPSTREAM_MODEL, stub.pieces, false).join(''));
  assert.equal(stub.requests[2]!.json.stream_options.include_usage, true);
  // A client that asked keeps its usage chunk, as the upstream sent it.
  const asked = await rawStream(gw.url, { model: 'chat', messages: [], stream: true, stream_options: { include_usage: true } });
  assert.equal(asked, chatStream(UPSTREAM_MODEL, stub.pieces, true).join(''));
  const sdkAsked = await client.chat.completions.create({ model: 'chat', messages: [], stream: true, stream_options: { include_usage: true } });
  let usage: { prompt_tokens: number } | null | undefined;
  for await (const c of sdkAsked) if (c.usage) usage = c.usage;
  assert.equal(usage?.prompt_tokens, 13);

  const emb = await client.embeddings.create({ model: 'chat', input: 'x', encoding_format: 'float' });
  assert.equal(emb.data[0]!.embedding.length, 3);
  assert.equal(stub.requests[5]!.json.model, UPSTREAM_MODEL);

  // An upstream error reaches the client; the secret does not.
  stub.mode = 'error';
  await assert.rejects(client.chat.completions.create({ model: 'chat', messages: [] }), (err: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(err.status, 500);
    assert.ok(!JSON.stringify(err.error ?? {}).includes(key));
    return true;
  });
  const errBody = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [] } });
  stub.mode = 'ok';

  await sink.waitFor(8);
  const events = sink.events;
  assert.ok(events.every((e) => e.model === 'chat' && e.upstream_model === UPSTREAM_MODEL), 'events keep the public model and record the upstream one');
  const streamed = events.filter((e) => e.tokens_out === 4);
  assert.equal(streamed.length, 5, 'every chat row has tokens, streams included (non-stream, 2 streams without usage, 2 with)');
  assert.ok(streamed.every((e) => e.tokens_in === 13));
  for (const s of stub.requests) assert.equal(s.headers.authorization, `Bearer ${key}`);

  // Nowhere else: events, logs, metrics, error bodies, the admin API, the parsed config.
  const metrics = await call(gw.metricsUrl);
  const routing = await admin(gw, 'GET', '/admin/routing');
  const places: Record<string, string> = {
    events: JSON.stringify(events), logs: lines.join(''), metrics: metrics.text, errorBody: errBody.text,
    admin: routing.text, adminChanges: (await admin(gw, 'GET', '/admin/changes')).text, config: JSON.stringify(config),
  };
  assert.ok(places.logs!.length > 0, 'the logger did log');
  for (const [where, text] of Object.entries(places)) assert.ok(!text.includes(key), `the secret is in ${where}`);
});

test('llm: with client auth on, the consumer key never reaches the upstream; /v1/models lists what the caller may use', async (t) => {
  const key = secret();
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-llm-'));
  const file = join(dir, 'key');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  const stub = await startLlmStub(t);
  const plain = await startLlmStub(t);
  const consumer = createApiKey();
  const consumerKey = consumer.key;
  const { gw } = await startTestGateway(t, {
    consumers: {
      app: { keys: [consumer.hash], models: ['chat'] },
    },
    models: {
      chat: { versions: { v1: { targets: [stub.url], credentials: { 'x-api-key': { file } } } } },
      other: { versions: { v1: { targets: [plain.url] } } },
      third: { versions: { v1: { targets: [plain.url] } } },
    },
  });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: consumerKey, maxRetries: 0 });
  await client.chat.completions.create({ model: 'chat', messages: [] });
  const seen = stub.requests[0]!.headers;
  assert.equal(seen['x-api-key'], key, 'the file value, trimmed');
  assert.equal(seen.authorization, undefined, "the consumer's key is not forwarded");
  assert.ok(!JSON.stringify(seen).includes(consumerKey));

  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['chat'], 'only the models this consumer may call');
  assert.equal(list.data[0]!.object, 'model');
  assert.equal((await client.models.retrieve('chat')).id, 'chat');
  await assert.rejects(client.models.retrieve('other'), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 404);
  const anon = await call(`${gw.url}/v1/models`);
  assert.equal(anon.status, 401, 'the list needs a credential like every route');
});

test('llm: without client auth, a version with credentials replaces the client credential; one without passes it', async (t) => {
  const key = secret();
  process.env[ENV] = key;
  t.after(() => { delete process.env[ENV]; });
  const withCreds = await startLlmStub(t);
  const without = await startLlmStub(t);
  const { gw } = await startTestGateway(t, {
    models: {
      a: { versions: { v1: { targets: [withCreds.url], credentials: { authorization: { env: ENV, prefix: 'Bearer ' } } } } },
      b: { versions: { v1: { targets: [without.url] } } },
    },
  });
  const headers = { authorization: 'Bearer client-key', 'x-api-key': 'client-key-2', 'api-key': 'client-key-3' };
  await call(`${gw.url}/v1/chat/completions`, { body: { model: 'a', messages: [] }, headers });
  await call(`${gw.url}/v1/chat/completions`, { body: { model: 'b', messages: [] }, headers });
  const a = withCreds.requests[0]!.headers;
  assert.deepEqual([a.authorization, a['x-api-key'], a['api-key']], [`Bearer ${key}`, undefined, undefined]);
  assert.equal(without.requests[0]!.headers.authorization, 'Bearer client-key');
  const models = await call(`${gw.url}/v1/models`);
  assert.deepEqual(models.json.data.map((m: { id: string }) => m.id), ['a', 'b']);
});

test('llm: an unresolvable credential reference is refused at start and on reload, naming the field', async (t) => {
  delete process.env.MLGATE_TEST_UNSET_KEY;
  const stub = await startLlmStub(t);
  const config = gatewayConfig({ models: { chat: { versions: { v1: { targets: [stub.url], credentials: { authorization: { env: 'MLGATE_TEST_UNSET_KEY' } } } } } } });
  await assert.rejects(
    startGateway({ config, sink: new MemorySink(), hasher: createHasher({ key: 'k'.repeat(24), keyId: 'k1' }), redactor: createRedactor({ budgetMs: 60_000, maxChars: 2048 }), gatewayId: 'gw' }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MLG_GW_CREDENTIAL_UNRESOLVED');
      assert.match(err.message, /gateway\.models\.chat\.versions\.v1\.credentials\.authorization\.env: the environment variable MLGATE_TEST_UNSET_KEY is not set/);
      return true;
    },
  );
  // A file secret rotated on reload; a missing file refuses the reload and keeps the old value.
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-llm-'));
  const file = join(dir, 'key');
  const first = secret();
  writeFileSync(file, first);
  let path = file;
  const raw = () => ({ models: { chat: { versions: { v1: { targets: [stub.url], credentials: { authorization: { file: path, prefix: 'Bearer ' } } } } } } });
  const { gw } = await startTestGateway(t, raw(), { reload: () => gatewayConfig(raw()) });
  await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [] } });
  const second = secret();
  writeFileSync(file, second);
  assert.equal((await admin(gw, 'POST', '/admin/reload', {})).status, 200);
  await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [] } });
  path = join(dir, 'missing');
  const refused = await admin(gw, 'POST', '/admin/reload', {});
  assert.equal(refused.status, 400);
  assert.match(refused.text, /credentials\.authorization\.file: cannot read .*missing: ENOENT/);
  await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [] } });
  assert.deepEqual(stub.requests.map((r) => r.headers.authorization), [`Bearer ${first}`, `Bearer ${second}`, `Bearer ${second}`]);
});

test('llm: upstream 429 has its own outcome; 500s do not bench the only target; non-JSON and bad SSE pass and lose nothing', async (t) => {
  const stub = await startLlmStub(t);
  const { gw, sink } = await startTestGateway(t, { models: { chat: { versions: { v1: { targets: [stub.url], breaker: { enabled: false } } } } } });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', maxRetries: 0 });
  stub.mode = 'rate_limited';
  await assert.rejects(client.chat.completions.create({ model: 'chat', messages: [] }), (err: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(err.status, 429);
    assert.equal(err.headers?.get('retry-after'), '7', "the upstream's Retry-After reaches the client");
    return true;
  });
  stub.mode = 'error';
  for (let i = 0; i < 6; i++) await assert.rejects(client.chat.completions.create({ model: 'chat', messages: [] }), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 500);
  stub.mode = 'ok';
  const after = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [] } });
  assert.equal(after.status, 200, 'five 500s in a row did not bench the version\'s only target');
  stub.mode = 'not_json';
  const html = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'chat', messages: [] } });
  assert.deepEqual([html.status, html.text], [200, '<html>upstream proxy error</html>'], 'a non-JSON answer is relayed as it came');
  stub.mode = 'bad_sse';
  const bad = await rawStream(gw.url, { model: 'chat', messages: [], stream: true });
  assert.equal(bad, chatStream('chat', stub.pieces, false, { bad: true }).join(''), 'a malformed event passes unchanged, the rest is stripped');
  stub.mode = 'ok';
  await sink.waitFor(10);
  const outcomes = sink.events.map((e) => e.outcome);
  assert.equal(outcomes[0], 'upstream_rate_limited');
  assert.ok(!outcomes.includes('rate_limited'), 'the gateway\'s own rate limit is a different outcome');
  assert.deepEqual(sink.events.slice(1, 7).map((e) => e.outcome), Array(6).fill('upstream_error'));
  assert.deepEqual([sink.events[8]!.outcome, sink.events[8]!.tokens_in], ['ok', null]);
  assert.deepEqual([sink.events[9]!.tokens_in, sink.events[9]!.tokens_out], [13, 4], 'the malformed event did not cost the row its tokens');
  const metrics = await call(gw.metricsUrl);
  assert.match(metrics.text, /outcome="upstream_rate_limited"/);
});

test('llm: a huge SSE event stops the stripping and loses nothing; an abort mid-stream reaches the upstream', async (t) => {
  const stub = await startLlmStub(t);
  const { gw, sink } = await startTestGateway(t, { models: { chat: { versions: { v1: { targets: [stub.url] } } } } });
  stub.mode = 'huge_sse';
  const huge = await rawStream(gw.url, { model: 'chat', messages: [], stream: true });
  const sent = chatStream('chat', stub.pieces, true, { huge: true });
  // The events before the huge one were stripped; it and everything after passed as sent.
  const first = chatStream('chat', stub.pieces, false, { huge: true })[0]!;
  assert.equal(huge, first + sent.slice(1).join(''));
  await sink.waitFor(1);
  assert.deepEqual([sink.events[0]!.tokens_in, sink.events[0]!.tokens_out], [13, 4], 'the usage chunk at the end was read');

  stub.mode = 'hold';
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', maxRetries: 0 });
  const ac = new AbortController();
  const stream = await client.chat.completions.create({ model: 'chat', messages: [], stream: true }, { signal: ac.signal });
  const upstreamClosed = stub.aborted();
  let got = 0;
  try {
    for await (const _ of stream) {
      got++;
      ac.abort();
    }
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIUserAbortError || (err as Error).name === 'AbortError', String(err));
  }
  assert.equal(got, 1, 'the client read the first chunk, then left');
  await upstreamClosed;
  await sink.waitFor(2);
  assert.equal(sink.events[1]!.outcome, 'client_closed');
  stub.release();
});
