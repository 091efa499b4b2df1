import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, validateEvent } from '../../services/telemetry/event.ts';
import { sampleEvent } from '../support/events.ts';


test('event: a well-formed event validates and round-trips through JSON', () => {
  const e = sampleEvent();
  const r = decodeEvent(Buffer.from(JSON.stringify(e)));
  assert.ok(r.ok);
  assert.deepEqual(r.event, e);
});

test('event: each bad field is named in the reason', () => {
  const r = validateEvent({ ...sampleEvent(), event_id: 'not-a-uuid', role: 'primary', latency_ms: -1 });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.reason, /event_id: expected a UUIDv7/);
  assert.match(r.reason, /role:/);
  assert.match(r.reason, /latency_ms:/);
  const nj = decodeEvent('{oops');
  assert.ok(!nj.ok && /not JSON/.test(nj.reason));
});

test('event: unknown fields from newer producers are accepted and dropped', () => {
  const r = validateEvent({ ...sampleEvent(), future_field: 1 });
  assert.ok(r.ok && !('future_field' in r.event));
});

test('cost: tokens at the version\'s prices per million, 0 on a cache hit, null without a price or a token count', async () => {
  const { costUsd } = await import('../../services/telemetry/event-builder.ts');
  const price = { input: 0.15, output: 0.6 };
  assert.equal(costUsd(price, '', 1000, 500), 0.00045, '1000 × 0.15 + 500 × 0.6 per million');
  assert.equal(costUsd(price, 'miss', 3, 0), 0.00000045);
  assert.equal(costUsd(price, 'hit', 1000, 500), 0, 'a cached answer did not call the upstream');
  assert.equal(costUsd(undefined, '', 1000, 500), null);
  assert.equal(costUsd(price, '', null, 500), null);
  assert.equal(costUsd(price, '', 1000, null), null);
  assert.equal(validateEvent(sampleEvent({ cost_usd: -1 })).ok, false, 'a negative cost is refused');
  assert.equal(validateEvent(sampleEvent({ cost_usd: null })).ok, true);
});

test('cost: an upstream claiming more tokens than a count can be (over 2^32 - 1) has them as unknown, so no cost is infinite and no count wraps', async () => {
  const { usageOf, usageOfSse } = await import('../../services/telemetry/usage.ts');
  const { costUsd } = await import('../../services/telemetry/event-builder.ts');
  const { VersionSchema } = await import('../../services/gateway/config.ts');
  assert.deepEqual(usageOf({ usage: { prompt_tokens: 1e308, completion_tokens: 2 ** 32 } }), undefined);
  assert.deepEqual(usageOf({ usage: { prompt_tokens: 2 ** 32 - 1, completion_tokens: 7 } }), { tokensIn: 2 ** 32 - 1, tokensOut: 7 });
  assert.deepEqual(usageOfSse('data: {"usage":{"prompt_tokens":1e308,"completion_tokens":3}}\n\n'), { tokensIn: null, tokensOut: 3 });
  // The largest price with the largest counts stays finite.
  assert.ok(Number.isFinite(costUsd({ input: 1_000_000, output: 1_000_000 }, '', 2 ** 32 - 1, 2 ** 32 - 1)!));
  assert.equal(VersionSchema.safeParse({ targets: ['http://127.0.0.1:1'], pricePerMillionTokens: { input: 1e308, output: 1 } }).success, false, 'an absurd price is refused at load');
});
