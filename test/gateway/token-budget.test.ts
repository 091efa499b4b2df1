/**
 * Token budgets, the pure parts: the bucket arithmetic (reserve all or none, a request larger
 * than the burst, settling back and beyond, Retry-After), the output allowance, what a finished
 * request is charged, the usage read from an exchange's capture, the refusal's code, budget and
 * headers, and config validation naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { parseConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import type { MlgateError } from '../../services/core/errors.ts';
import { GatewaySection } from '../../services/gateway/config.ts';
import { TokenBudgetsSchema } from '../../services/gateway/edge/edge-config.ts';
import { EdgeMetrics } from '../../services/gateway/edge/edge-metrics.ts';
import type { RedisBuckets } from '../../services/gateway/edge/rate-limit-redis.ts';
import { LocalBuckets, decideReserve, msUntil } from '../../services/gateway/edge/token-bucket.ts';
import { TokenBudgets, bucketOf, chargedTokens, outputAllowance } from '../../services/gateway/edge/token-budgets.ts';
import { outcomeOf } from '../../services/gateway/errors.ts';
import type { TokenHold } from '../../services/gateway/proxy/edge-hooks.ts';
import { Exchange, ResponseCapture } from '../../services/gateway/proxy/exchange-record.ts';
import { usedTokens } from '../../services/gateway/proxy/exchange-usage.ts';
import { chatStream } from './llm-stub.ts';

const base = { admin: { token: 'x'.repeat(16) }, models: { chat: { versions: { v1: { targets: ['http://127.0.0.1:9000'] } } } } };

test('token budget arithmetic: reserve all or none, a request above the burst waits for a full bucket', () => {
  const c = { key: 'tc:a', rate: 10, burst: 1000 };
  const m = { key: 'tm:chat', rate: 100, burst: 500 };
  let d = decideReserve([c, m], [1000, 500], 400);
  assert.equal(d.allowed, true);
  assert.deepEqual(d.after, [600, 100]);
  // The model bucket holds 100 < 400: refused, and nothing is taken from either bucket.
  d = decideReserve([c, m], d.after, 400);
  assert.equal(d.allowed, false);
  assert.equal(d.refuser, 1);
  assert.equal(d.retryAfterMs, 3000, '300 tokens missing at 100 a second');
  assert.deepEqual(d.after, [600, 100]);
  // Both short: the longer wait names the refuser.
  d = decideReserve([c, m], [100, 390], 400);
  assert.equal(d.refuser, 0);
  assert.equal(d.retryAfterMs, 30_000, 'the consumer misses 300 at 10 a second, the model 10 at 100');
  // 700 tokens against a 500-token bucket: admitted only when it is full, then it owes 200.
  assert.equal(decideReserve([m], [499.5], 700).allowed, false);
  assert.equal(decideReserve([m], [499.5], 700).retryAfterMs, 5, 'rounded up to the next ms');
  d = decideReserve([m], [500], 700);
  assert.equal(d.allowed, true);
  assert.deepEqual(d.after, [-200]);
  assert.equal(msUntil(m, -200, 500), 7000);
});

test('token budget buckets: settling gives back the unused part, charges the excess, never above the burst', () => {
  let now = 0;
  const tb = new LocalBuckets(() => now);
  const b = { key: 'tc:a', rate: 1, burst: 300 };
  assert.equal(tb.reserve([b], 258).allowed, true); // 42 left
  assert.equal(tb.reserve([b], 258).allowed, false, 'the reservation alone leaves too little');
  tb.adjust([b], 258 - 17); // the answer used 17 tokens: 241 back, 283 held
  const d = tb.reserve([b], 258);
  assert.equal(d.allowed, true);
  assert.equal(d.after[0], 25);
  tb.adjust([b], -100); // used 100 more than reserved: -75
  const r = tb.reserve([b], 10);
  assert.equal(r.allowed, false);
  assert.equal(r.retryAfterMs, 85_000, 'from -75 to 10 at 1 token a second');
  now = 85_000;
  assert.equal(tb.reserve([b], 10).allowed, true);
  tb.adjust([b], 1_000_000);
  assert.equal(tb.reserve([b], 0).after[0], 300, 'a settling never fills a bucket beyond its burst');
});

test('output allowance and the tokens a finished request is charged', () => {
  assert.equal(outputAllowance('/v1/chat/completions', { max_completion_tokens: 50, max_tokens: 90 }, 256), 50);
  assert.equal(outputAllowance('/v1/chat/completions', { max_tokens: 90 }, 256), 90);
  assert.equal(outputAllowance('/v1/completions', {}, 256), 256);
  assert.equal(outputAllowance('/v1/chat/completions', { max_tokens: 10, n: 3 }, 256), 30);
  assert.equal(outputAllowance('/v1/chat/completions', { max_tokens: -4, n: 'x' }, 256), 256, 'nonsense values are ignored');
  assert.equal(outputAllowance('/v1/embeddings', { max_tokens: 10 }, 256), 0);
  assert.equal(outputAllowance('/v1/chat/completions', { max_tokens: 1e9, n: 128 }, 256, 16_384), 16_384, 'capped');
  // Never sent upstream (a cache hit, a refusal after the reservation): nothing.
  assert.equal(chargedTokens({ forwarded: false, answered: false, tokensIn: null, tokensOut: null }, 8, 250), 0);
  // Reported usage is what counts.
  assert.equal(chargedTokens({ forwarded: true, answered: true, tokensIn: 13, tokensOut: 4 }, 8, 250), 17);
  // A whole answer whose output is unknown keeps its allowance.
  assert.equal(chargedTokens({ forwarded: true, answered: true, tokensIn: null, tokensOut: null }, 8, 250), 258);
  // A failed or aborted request without usage: the input estimate only.
  assert.equal(chargedTokens({ forwarded: true, answered: false, tokensIn: null, tokensOut: null }, 8, 250), 8);
  assert.equal(chargedTokens({ forwarded: true, answered: false, tokensIn: 13, tokensOut: 2 }, 8, 250), 15);
});

function exchange(status: number, contentType: string, body: string, outcome: 'ok' | 'client_closed' = 'ok', max = 1 << 20): Exchange {
  const x = new Exchange('e', Date.now(), performance.now());
  x.tUpstream = performance.now();
  x.status = status;
  x.outcome = outcome;
  x.responseContentType = contentType;
  x.capture = new ResponseCapture(max, 64);
  x.capture.add(Buffer.from(body));
  return x;
}

test('the usage a finished exchange reports: JSON, SSE (kept even when stripped), counted when missing', () => {
  const json = { choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world' } }] };
  assert.deepEqual(usedTokens(exchange(200, 'application/json', JSON.stringify({ ...json, usage: { prompt_tokens: 13, completion_tokens: 4 } }))),
    { forwarded: true, answered: true, tokensIn: 13, tokensOut: 4 });
  assert.deepEqual(usedTokens(exchange(200, 'application/json', JSON.stringify(json))),
    { forwarded: true, answered: true, tokensIn: null, tokensOut: 2 }, 'no usage: the answer counted with the tokenizer');
  const sse = chatStream('m', ['Hel', 'lo'], true).join('');
  assert.deepEqual(usedTokens(exchange(200, 'text/event-stream', sse)), { forwarded: true, answered: true, tokensIn: 13, tokensOut: 2 });
  // A stream longer than the capture: its tail still has the usage chunk.
  assert.deepEqual(usedTokens(exchange(200, 'text/event-stream', chatStream('m', Array(200).fill('word'), true).join(''), 'ok', 1024)),
    { forwarded: true, answered: true, tokensIn: 13, tokensOut: 200 });
  // Cut by the client before the usage chunk: nothing known.
  assert.deepEqual(usedTokens(exchange(200, 'text/event-stream', chatStream('m', ['Hel'], false).join(''), 'client_closed')),
    { forwarded: true, answered: false, tokensIn: null, tokensOut: null });
  const hit = exchange(200, 'application/json', JSON.stringify(json));
  hit.tUpstream = 0;
  assert.equal(usedTokens(hit).forwarded, false, 'never sent upstream');
});

test('a refusal names its budget, has its own code and outcome, and Retry-After in whole seconds (at least 1)', () => {
  let now = 0;
  const local = new LocalBuckets(() => now);
  const headers = new WeakMap<MlgateError, Record<string, string>>();
  const budgets = new TokenBudgets({
    config: TokenBudgetsSchema.parse({ consumers: { default: { tokensPerMinute: 600, burst: 100 }, overrides: { big: { tokensPerMinute: 60_000 } } }, models: { chat: { tokensPerMinute: 6000, burst: 1000 } } }),
    local, redis: undefined, metrics: new EdgeMetrics(new Registry()), logger: createLogger({ service: 'test', level: 'silent' }),
    label: (id) => id, withHeaders: (err, h) => { headers.set(err, h); return err; },
  });
  assert.deepEqual(budgets.budgetsOf('acme', 'chat').map((b) => `${b.kind}:${b.name}:${b.limit.tokensPerMinute}`), ['consumer:acme:600', 'model:chat:6000']);
  assert.deepEqual(budgets.budgetsOf('big', 'other').map((b) => `${b.kind}:${b.limit.tokensPerMinute}`), ['consumer:60000'], 'an override replaces the default');
  const req = { route: '/v1/chat/completions', bytes: 100, json: { model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 42 } }; // 8 + 42 = 50
  const hold = budgets.reserve({ id: 'acme' }, 'chat', req) as TokenHold;
  assert.equal(typeof hold.settle, 'function');
  now = 50; // 0.5 tokens refilled at 10 a second
  const err = budgets.reserve({ id: 'acme' }, 'chat', { ...req, json: { ...req.json, max_tokens: 92 } }) as MlgateError; // 100 > 50.5
  assert.equal(err.code, 'MLG_EDGE_TOKEN_BUDGET');
  assert.equal(err.statusCode, 429);
  assert.equal(outcomeOf(err), 'token_budget');
  assert.match(err.message, /token budget of consumer acme \(600 tokens per minute, burst 100\) cannot take this request's 100 estimated tokens/);
  assert.equal(err.details?.budget, 'consumer');
  assert.deepEqual(headers.get(err), { 'retry-after': '5' }, '49.5 tokens at 10 a second: 4.95 s, rounded up');
  const tiny = budgets.reserve({ id: 'acme' }, 'chat', { ...req, json: { ...req.json, max_tokens: 43 } }) as MlgateError; // 51 > 50.5: 50 ms
  assert.deepEqual(headers.get(tiny), { 'retry-after': '1' }, 'at least 1 s');
  // Settled with a small real usage: the consumer's next request fits again.
  hold.settle({ forwarded: true, answered: true, tokensIn: 8, tokensOut: 2 });
  assert.equal(typeof (budgets.reserve({ id: 'acme' }, 'chat', { ...req, json: { ...req.json, max_tokens: 80 } }) as TokenHold).settle, 'function');
});

test('a refusal from the shared store with nothing short locally (rounding) still names a budget and says 1 s', async () => {
  const headers = new WeakMap<MlgateError, Record<string, string>>();
  const store = { reserve: async () => ({ allowed: false, refuser: -1, retryAfterMs: 0, after: [10], stored: true }) };
  const budgets = new TokenBudgets({
    config: TokenBudgetsSchema.parse({ models: { chat: { tokensPerMinute: 60 } } }),
    local: new LocalBuckets(), redis: store as unknown as RedisBuckets, metrics: new EdgeMetrics(new Registry()),
    logger: createLogger({ service: 'test', level: 'silent' }), label: (id) => id, withHeaders: (err, h) => { headers.set(err, h); return err; },
  });
  const err = await budgets.reserve({ id: '' }, 'chat', { route: '/v1/embeddings', bytes: 100, json: { model: 'chat', input: 'x' } }) as MlgateError;
  assert.equal(err.code, 'MLG_EDGE_TOKEN_BUDGET');
  assert.match(err.message, /token budget of model chat/);
  assert.deepEqual(headers.get(err), { 'retry-after': '1' });
});

test('token budgets config: bad values and unknown models are named by their path', () => {
  const c = parseConfig(GatewaySection, { ...base, tokenBudgets: { models: { chat: { tokensPerMinute: 1000 } } } });
  assert.equal(c.tokenBudgets!.defaultOutputTokens, 256);
  assert.deepEqual(c.tokenBudgets!.models.chat, { tokensPerMinute: 1000 });
  assert.deepEqual(bucketOf('k', c.tokenBudgets!.models.chat!), { key: 'k', rate: 1000 / 60, burst: 1000 });
  const cases: Array<[unknown, RegExp]> = [
    [{ models: { chat: { tokensPerMinute: 0 } } }, /tokenBudgets\.models\.chat\.tokensPerMinute: tokensPerMinute must be at least 1/],
    [{ models: { chat: { tokensPerMinute: 1.5 } } }, /tokenBudgets\.models\.chat\.tokensPerMinute: tokensPerMinute must be a whole number/],
    [{ models: { chat: {} } }, /tokenBudgets\.models\.chat\.tokensPerMinute: required: tokensPerMinute/],
    [{ models: { nope: { tokensPerMinute: 10 } } }, /tokenBudgets\.models\.nope: nope is not a model of this gateway/],
    [{ consumers: { default: { tokensPerMinute: 10, burst: 0 } } }, /tokenBudgets\.consumers\.default\.burst: burst must be at least 1/],
    [{ consumers: { overrides: { 'bad id!': { tokensPerMinute: 10 } } } }, /tokenBudgets\.consumers\.overrides\.bad id!/],
    [{ defaultOutputTokens: -1 }, /tokenBudgets\.defaultOutputTokens: defaultOutputTokens must be 0 or more/],
    [{ tokensPerMinute: 10 }, /tokenBudgets.*tokensPerMinute/],
  ];
  for (const [tb, re] of cases) assert.throws(() => parseConfig(GatewaySection, { ...base, tokenBudgets: tb }), re, String(re));
});

test('one request asking for a billion output tokens cannot take a shared model budget from every other caller', () => {
  const budgets = new TokenBudgets({
    config: TokenBudgetsSchema.parse({ models: { chat: { tokensPerMinute: 1_000_000 } } }),
    local: new LocalBuckets(() => 0), redis: undefined, metrics: new EdgeMetrics(new Registry()),
    logger: createLogger({ service: 'test', level: 'silent' }), label: (id) => id, withHeaders: (err) => err,
  });
  const msg = { model: 'chat', messages: [{ role: 'user', content: 'hi' }] };
  const hostile = budgets.reserve({ id: 'mallory' }, 'chat', { route: '/v1/chat/completions', bytes: 100, json: { ...msg, max_tokens: 1_000_000_000, n: 128 } });
  assert.equal(typeof (hostile as TokenHold).settle, 'function', 'admitted (the bucket was full)');
  // While it is in flight, others still fit: it reserved at most maxReservedOutputTokens.
  for (let i = 0; i < 50; i++) {
    const other = budgets.reserve({ id: `c${i}` }, 'chat', { route: '/v1/chat/completions', bytes: 100, json: { ...msg, max_tokens: 1000 } });
    assert.equal(typeof (other as TokenHold).settle, 'function', `caller ${i} is admitted while the hostile request is in flight`);
  }
});
