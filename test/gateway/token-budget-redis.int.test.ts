/**
 * Two gateways sharing the Redis at 127.0.0.1:6379 enforce one token budget: a reservation held
 * by a stream on one gateway refuses a request on the other, and settling it there (Lua, on the
 * server's clock) lets the other's next request through. Each run has its own key prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { waitUntil } from '../support/infra.ts';
import { call, startTestGateway } from './helpers.ts';
import { startLlmStub } from './llm-stub.ts';

async function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(6379, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

const MESSAGES = [{ role: 'user', content: 'hi' }]; // 8 tokens as estimated

test('token budget: two gateways on one Redis share one budget, reserved and settled', async (t) => {
  if (!(await redisUp())) {
    if (process.env.CI === 'true') assert.fail('Redis at 127.0.0.1:6379 is required under CI=true');
    t.skip('no Redis at 127.0.0.1:6379');
    return;
  }
  const stub = await startLlmStub(t);
  const keyPrefix = `mlgate:test:${randomBytes(6).toString('hex')}:`;
  const raw = {
    models: { chat: { versions: { v1: { targets: [stub.url] } } } },
    rateLimits: { store: 'redis', redisUrl: 'redis://127.0.0.1:6379', keyPrefix, redisTimeoutMs: 2000 },
    tokenBudgets: { consumers: { default: { tokensPerMinute: 60, burst: 300 } } },
  };
  const g1 = await startTestGateway(t, raw);
  const g2 = await startTestGateway(t, raw);
  const redis = new Redis('redis://127.0.0.1:6379');
  t.after(async () => { await redis.del(`${keyPrefix}tc:`); redis.disconnect(); });
  const held = async (): Promise<number> => Number(await redis.hget(`${keyPrefix}tc:`, 'n'));

  // A stream on g1 holds 8 + 250 of the 300 while the upstream keeps it open.
  stub.mode = 'hold';
  const streaming = request(`${g1.gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: MESSAGES, max_tokens: 250, stream: true }),
  });
  await waitUntil('the stream reached the upstream', () => stub.requests.length === 1, 10_000, 10);
  const left = await held();
  assert.ok(left >= 42 && left < 50, `${left} tokens left in Redis after the reservation`);

  // g2 sees the same bucket: 108 tokens do not fit in about 42.
  const body = { model: 'chat', messages: MESSAGES, max_tokens: 100 };
  const refused = await call(`${g2.gw.url}/v1/chat/completions`, { body });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.json.error.code, 'MLG_EDGE_TOKEN_BUDGET');
  const retry = Number(refused.headers['retry-after']);
  assert.ok(retry >= 55 && retry <= 66, `Retry-After ${retry}: about 66 tokens missing at 1 a second`);
  assert.equal(stub.requests.length, 1);

  // The stream ends with usage 13 + 4: g1 gives 241 back, and g2's request fits.
  stub.release();
  const res = await streaming;
  assert.equal(res.statusCode, 200);
  await res.body.text();
  await waitUntil('g1 settled in Redis', async () => (await held()) > 250, 10_000, 10);
  const ok = await call(`${g2.gw.url}/v1/chat/completions`, { body });
  assert.equal(ok.status, 200, ok.text);
  await g2.sink.waitFor(2, 10_000);
  assert.deepEqual(g2.sink.events.map((e) => e.outcome), ['token_budget', 'ok']);
  // g2 reserved 108 (about 175 left) and gives 91 back.
  const after = await waitUntil('g2 settled in Redis', async () => { const n = await held(); return n > 250 ? n : 0; }, 10_000, 10);
  assert.ok(after < 300, `${after}: 300 less the 17 + 17 used, plus a few seconds of refill`);
  assert.ok(await redis.pttl(`${keyPrefix}tc:`) > 0, 'the key expires once the bucket would be full again');
});
