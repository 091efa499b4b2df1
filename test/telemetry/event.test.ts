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
