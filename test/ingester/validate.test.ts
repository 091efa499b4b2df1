// The ingester's fast validator must judge exactly like the zod schema of the event contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleEvent } from '../support/events.ts';
import { TelemetryEventSchema, decodeEvent } from '../../services/telemetry/event.ts';
import { createEventDecoder } from '../../services/ingester/validate.ts';

const CANDIDATES: unknown[] = [
  undefined, null, '', 'x', 'x'.repeat(16), 'x'.repeat(17), 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(100), 'x'.repeat(101),
  'x'.repeat(200), 'x'.repeat(201), 'x'.repeat(500), 'x'.repeat(501), '😀'.repeat(100), '😀'.repeat(101), '😀'.repeat(150),
  -1, 0, 1, 1.5, 999, 1000, 2 ** 53, 2 ** 53 - 1, 1e308, -0.0001, true, false, [], [1], {}, { A: 1 }, { A: -1 }, { A: 1.5 }, { A: 'x' },
  'a'.repeat(64), 'A'.repeat(64), 'g'.repeat(64), 'a'.repeat(63), 'a'.repeat(32), 'a'.repeat(16), 'F'.repeat(32),
  '0190b2a1-7c4e-7d2a-9b1c-1234567890ab', '0190B2A1-7C4E-7D2A-9B1C-1234567890AB', '0190b2a1-7c4e-4d2a-9b1c-1234567890ab',
  '0190b2a1-7c4e-7d2a-cb1c-1234567890ab', 'stable', 'canary', 'ok', 'timeout', 'hit', 'miss', 'positive',
];

const fastDecoder = createEventDecoder();

function verdicts(obj: unknown): [boolean, boolean] {
  const fast = fastDecoder;
  const text = JSON.stringify(obj);
  return [fast(Buffer.from(text)).ok, decodeEvent(text).ok];
}

test('fast validation agrees with the zod schema on every field and many bad values', () => {
  const fields = Object.keys(TelemetryEventSchema.shape);
  let checked = 0;
  for (const field of fields) {
    for (const v of CANDIDATES) {
      const e: Record<string, unknown> = { ...sampleEvent() };
      if (v === undefined) delete e[field];
      else e[field] = v;
      const [fast, zod] = verdicts(e);
      assert.equal(fast, zod, `field ${field} = ${JSON.stringify(v)}: fast ${fast}, zod ${zod}`);
      checked++;
    }
  }
  // Unknown fields (a newer producer) are accepted by both; non-objects are refused by both.
  assert.deepEqual(verdicts({ ...sampleEvent(), new_field: 1 }), [true, true]);
  for (const v of [[], 'event', 1, null]) assert.deepEqual(verdicts(v), [false, false]);
  assert.ok(checked > 1000);
});

test('random combinations of two bad fields agree too', () => {
  const fields = Object.keys(TelemetryEventSchema.shape);
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (let i = 0; i < 3000; i++) {
    const e: Record<string, unknown> = { ...sampleEvent() };
    for (let k = 0; k < 2; k++) e[fields[rnd(fields.length)]!] = CANDIDATES[rnd(CANDIDATES.length)];
    const [fast, zod] = verdicts(e);
    assert.equal(fast, zod, JSON.stringify(e));
  }
});

test('reasons come from the schema, and the cache default is applied on the fast path', () => {
  const fast = createEventDecoder();
  const bad = fast(Buffer.from(JSON.stringify({ ...sampleEvent(), latency_ms: -1 })));
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.reason : '', /latency_ms/);
  assert.match((() => { const r = fast(Buffer.from('{oops')); return r.ok ? '' : r.reason; })(), /^not JSON/);
  const { cache: _omit, ...noCache } = sampleEvent();
  const ok = fast(Buffer.from(JSON.stringify(noCache)));
  assert.ok(ok.ok);
  assert.equal(ok.ok && ok.event.cache, '');
});
