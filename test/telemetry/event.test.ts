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
