/**
 * Token budgets through a running gateway (this process's buckets), driven by the `openai` SDK
 * and undici against the OpenAI-compatible stub (llm-stub.ts): a consumer over its budget gets
 * 429 MLG_EDGE_TOKEN_BUDGET with Retry-After and the outcome `token_budget` (a model's budget is
 * named as such), settling with the real usage gives back the unused reservation (streams,
 * answers without usage, upstream errors) and charges an excess, and a Redis that does not
 * answer lets requests through unreserved, counted and logged once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createLogger } from '../../services/core/log.ts';
import { createApiKey } from '../../services/gateway/edge/api-keys.ts';
import { waitUntil } from '../support/infra.ts';
import { call, startTestGateway } from './helpers.ts';
import { startLlmStub } from './llm-stub.ts';

const MESSAGES = [{ role: 'user' as const, content: 'hi' }]; // 8 tokens as estimated (llm-token-estimate.test.ts)
const chat = (versionUrl: string) => ({ versions: { v1: { targets: [versionUrl] } } });

/** The value of one series on the gateway's /metrics (0 when absent). */
async function metric(url: string, series: RegExp): Promise<number> {
  const text = (await call(url)).text;
  const line = text.split('\n').find((l) => series.test(l));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const settled = (direction: string) => new RegExp(`^mlgate_gateway_token_budget_settled_tokens_total\\{direction="${direction}"`);

test('token budget: a consumer over its budget gets 429 with Retry-After and outcome token_budget; a model budget is named', async (t) => {
  const stub = await startLlmStub(t);
  const a = createApiKey();
  const b = createApiKey();
  const { gw, sink } = await startTestGateway(t, {
    models: { chat: chat(stub.url), small: chat(stub.url) },
    consumers: { greedy: { keys: [a.hash], models: ['*'] }, calm: { keys: [b.hash], models: ['*'] } },
    tokenBudgets: {
      consumers: { default: { tokensPerMinute: 60, burst: 100 }, overrides: { calm: { tokensPerMinute: 600_000 } } },
      models: { small: { tokensPerMinute: 60, burst: 50 } },
    },
  });
  const greedy = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: a.key, maxRetries: 0 });
  const calm = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: b.key, maxRetries: 0 });

  // 8 + 50 reserved of 100; the answer used 13 + 4, so 41 come back (83 held).
  await greedy.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 50 });
  await waitUntil('the first request settled', async () => (await metric(gw.metricsUrl, settled('returned'))) === 41, 10_000, 10);
  const refused = await greedy.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 90 }).then(
    () => assert.fail('98 tokens do not fit in 83'), (err: unknown) => err as InstanceType<typeof OpenAI.RateLimitError>);
  assert.ok(refused instanceof OpenAI.RateLimitError, String(refused));
  const retry = Number(refused.headers.get('retry-after'));
  assert.ok(retry >= 10 && retry <= 15, `Retry-After ${retry}: about 15 tokens missing at 1 a second`);
  const body = refused.error as { code: string; message: string; details: { budget: string; tokens: number } };
  assert.equal(body.code, 'MLG_EDGE_TOKEN_BUDGET');
  assert.equal(body.details.budget, 'consumer');
  assert.equal(body.details.tokens, 98);
  assert.match(body.message, /token budget of consumer greedy \(60 tokens per minute, burst 100\)/);
  assert.equal(stub.requests.length, 1, 'the refused request never went upstream');

  // Another consumer has its own budget (an override).
  await calm.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 90 });
  // The model budget (burst 50): 108 tokens pass a full bucket and leave a debt; settled to 33.
  await calm.chat.completions.create({ model: 'small', messages: MESSAGES, max_tokens: 100 });
  await waitUntil('the small request settled', async () => (await metric(gw.metricsUrl, settled('returned'))) === 41 + 81 + 91, 10_000, 10);
  const r = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'small', messages: MESSAGES, max_tokens: 40 }, headers: { authorization: `Bearer ${b.key}` } });
  assert.equal(r.status, 429);
  assert.equal(r.json.error.code, 'MLG_EDGE_TOKEN_BUDGET');
  assert.equal(r.json.error.details.budget, 'model');
  assert.match(r.json.error.message, /token budget of model small \(60 tokens per minute, burst 50\) cannot take this request's 48 estimated tokens/);
  assert.ok(Number(r.headers['retry-after']) >= 1);
  assert.equal(r.headers['ratelimit-limit'], undefined, 'the request-limit headers are not a token budget\'s');
  assert.equal(stub.requests.length, 3);

  await sink.waitFor(5, 10_000);
  const limited = sink.events.filter((e) => e.outcome === 'token_budget');
  assert.deepEqual(limited.map((e) => [e.consumer_id, e.model, e.status, e.error_class]), [
    ['greedy', 'chat', 429, 'MLG_EDGE_TOKEN_BUDGET'], ['calm', 'small', 429, 'MLG_EDGE_TOKEN_BUDGET'],
  ]);
  assert.equal(sink.events.filter((e) => e.outcome === 'ok').length, 3);
  const text = (await call(gw.metricsUrl)).text;
  assert.match(text, /mlgate_gateway_requests_total\{[^}]*model="chat"[^}]*outcome="token_budget"[^}]*\} 1/);
  assert.match(text, /mlgate_gateway_token_budget_refused_total\{budget="consumer",consumer="greedy",model="chat"[^}]*\} 1/);
  assert.match(text, /mlgate_gateway_token_budget_refused_total\{budget="model",consumer="calm",model="small"[^}]*\} 1/);
  assert.doesNotMatch(text, /outcome="rate_limited"/);
});

test('token budget settling: the unused reservation comes back (streams, no usage, upstream errors), an excess is charged', async (t) => {
  const stub = await startLlmStub(t);
  // No consumers: every request is anonymous consumer '' under the default budget.
  const { gw, sink } = await startTestGateway(t, {
    models: { chat: chat(stub.url) },
    tokenBudgets: { consumers: { default: { tokensPerMinute: 60, burst: 400 } } },
  });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', maxRetries: 0 });
  const returned = (n: number) => waitUntil(`${n} tokens returned`, async () => (await metric(gw.metricsUrl, settled('returned'))) === n, 10_000, 10);

  // A stream whose client did not ask for usage: the gateway asked, and settles with it (13 + 4).
  let text = '';
  for await (const c of await client.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 250, stream: true })) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'Hello world');
  await returned(258 - 17);
  // 258 again: only fits because 241 came back (the reservation alone left 142).
  await client.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 250 });
  await returned(2 * 241);
  // No usage reported: the input estimate (8) and the answer counted (2).
  stub.noUsage = true;
  await client.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 250 });
  await returned(2 * 241 + 248);
  // An upstream error: the input estimate only.
  stub.mode = 'error';
  await assert.rejects(client.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 250 }), OpenAI.InternalServerError);
  await returned(2 * 241 + 248 + 250);
  // An embedding reserves its estimated input (2) and is charged what it reports (4).
  stub.mode = 'ok';
  stub.noUsage = false;
  await client.embeddings.create({ model: 'chat', input: 'hello world', encoding_format: 'float' });
  await waitUntil('2 tokens charged', async () => (await metric(gw.metricsUrl, settled('charged'))) === 2, 10_000, 10);
  await sink.waitFor(5, 10_000);
  assert.deepEqual(sink.events.map((e) => e.outcome), ['ok', 'ok', 'ok', 'upstream_error', 'ok']);
  assert.equal(stub.requests.length, 5);
});

/** A TCP server that accepts connections and never answers (a Redis that hangs). */
async function blackHole(t: import('node:test').TestContext): Promise<string> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => { sockets.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of sockets) s.destroy(); srv.close(); });
  return `redis://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

/** A port nothing listens on (a Redis that is down). */
async function closedPort(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return `redis://127.0.0.1:${port}`;
}

for (const kind of ['hangs', 'is down'] as const) {
  test(`token budget: a Redis that ${kind} lets requests through unreserved, counted and logged once`, async (t) => {
    const stub = await startLlmStub(t);
    const lines: string[] = [];
    const logger = createLogger({ service: 'gateway', level: 'debug', destination: { write: (s: string) => { lines.push(s); } } });
    const redisUrl = kind === 'hangs' ? await blackHole(t) : await closedPort();
    const { gw, sink } = await startTestGateway(t, {
      models: { chat: chat(stub.url) },
      rateLimits: { store: 'redis', redisUrl, redisTimeoutMs: 100 },
      tokenBudgets: { consumers: { default: { tokensPerMinute: 60, burst: 100 } } },
    }, { logger });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', maxRetries: 0 });
    // Three requests of 98 tokens against a 100-token budget: all served while the store fails.
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'chat', messages: MESSAGES, max_tokens: 90 });
    assert.equal(stub.requests.length, 3);
    await sink.waitFor(3, 10_000);
    assert.deepEqual(sink.events.map((e) => e.outcome), ['ok', 'ok', 'ok']);
    assert.equal(await metric(gw.metricsUrl, /^mlgate_gateway_token_budget_store_errors_total\{op="reserve"/), 3);
    assert.equal(await metric(gw.metricsUrl, /^mlgate_gateway_token_budget_store_errors_total\{op="adjust"/), 0, 'nothing reserved, nothing to settle');
    assert.equal(await metric(gw.metricsUrl, /^mlgate_gateway_rate_limit_store_errors_total/), 0, 'the request limiter\'s counter is its own');
    const warned = lines.filter((l) => l.includes('token-budget store failed'));
    assert.equal(warned.length, 1, 'logged once per interval');
  });
}

test('token budget: a hostile large prompt is reserved by its size, not counted token by token on the request thread', async (t) => {
  const stub = await startLlmStub(t);
  const { gw } = await startTestGateway(t, {
    models: { chat: chat(stub.url) },
    tokenBudgets: { consumers: { default: { tokensPerMinute: 1_000_000 } } },
  });
  // ~600 KiB of text the tokenizer finds hardest (no word repeats: over 0.3 s to count here).
  let seed = 7;
  const text = Array.from({ length: 600_000 }, () => String.fromCharCode(33 + ((seed = (seed * 1103515245 + 12345) % 2147483648) % 90))).join('').replace(/["\\]/g, 'x');
  const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: text }], max_tokens: 10 });
  const r = await call(`${gw.url}/v1/chat/completions`, { body, headers: { 'content-type': 'application/json' } });
  // A full bucket admits a request larger than its burst; the reservation shows in what settling gives back.
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const reserved = Math.ceil(Buffer.byteLength(body) / 4) + 10; // the body's size at four bytes a token, plus max_tokens
  await waitUntil('the request settled', async () => (await metric(gw.metricsUrl, settled('returned'))) > 0, 10_000, 10);
  assert.equal(await metric(gw.metricsUrl, settled('returned')), reserved - 17, 'the stub reports 13 + 4 tokens used');
});
