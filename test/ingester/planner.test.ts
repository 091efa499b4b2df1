// The batch planner: normal cuts by size, and identical rebuilds of ledger ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeForced, planChunks } from '../../services/ingester/planner.ts';
import { batchToken } from '../../services/ingester/batch-ledger.ts';

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const spans = (offsets: number[], plan: ReturnType<typeof planChunks>) =>
  plan.chunks.map((c) => [offsets[c.from], offsets[c.to], c.range.first, c.range.last, c.replay]);

test('without ledger ranges, consecutive messages are cut every maxRows', () => {
  const offs = range(100, 124);
  const plan = planChunks(offs, [], 10);
  assert.deepEqual(spans(offs, plan), [[100, 109, 100, 109, false], [110, 119, 110, 119, false], [120, 124, 120, 124, false]]);
  assert.equal(plan.carryFrom, offs.length);
});

test('ledger ranges are rebuilt with their exact boundaries, whatever maxRows says', () => {
  const offs = range(0, 39);
  const plan = planChunks(offs, [{ first: 0, last: 14 }, { first: 15, last: 17 }], 10);
  assert.deepEqual(spans(offs, plan), [[0, 14, 0, 14, true], [15, 17, 15, 17, true], [18, 27, 18, 27, false], [28, 37, 28, 37, false], [38, 39, 38, 39, false]]);
});

test('a normal batch stops short of the next ledger range', () => {
  const offs = range(0, 29);
  const plan = planChunks(offs, [{ first: 5, last: 9 }], 100);
  assert.deepEqual(spans(offs, plan), [[0, 4, 0, 4, false], [5, 9, 5, 9, true], [10, 29, 10, 29, false]]);
});

test('a ledger range not yet complete is carried to the next delivery, then completed', () => {
  const first = range(50, 59);
  const forced = [{ first: 50, last: 64 }];
  const p1 = planChunks(first, forced, 5);
  assert.equal(p1.chunks.length, 0);
  assert.equal(p1.carryFrom, 0);
  assert.deepEqual(p1.forced, forced);
  const both = [...first, ...range(60, 70)];
  const p2 = planChunks(both, p1.forced, 5);
  assert.deepEqual(spans(both, p2), [[50, 64, 50, 64, true], [65, 69, 65, 69, false], [70, 70, 70, 70, false]]);
});

test('a ledger range whose last offsets never arrive (gap) closes at the first later message', () => {
  const offs = [10, 11, 12, 20, 21];
  const plan = planChunks(offs, [{ first: 10, last: 14 }], 100);
  assert.deepEqual(spans(offs, plan), [[10, 12, 10, 14, true], [20, 21, 20, 21, false]]);
  const skipped = planChunks([30, 31], [{ first: 10, last: 14 }], 100);
  assert.deepEqual(skipped.skipped, [{ first: 10, last: 14 }]);
});

test('ledger ranges are ordered, committed ones dropped, overlaps refused; tokens name offsets and events', () => {
  assert.deepEqual(normalizeForced([{ first: 20, last: 29 }, { first: 0, last: 9 }, { first: 10, last: 19 }, { first: 15, last: 40 }], 10),
    [{ first: 10, last: 19 }, { first: 20, last: 29 }]);
  const a = '0190b2a1-7c4e-7d2a-9b1c-1234567890ab';
  const b = '0190b2a1-7c4e-7d2a-9b1c-1234567890ac';
  const token = batchToken('mlgate.telemetry.v1', 3, { first: 10, last: 19 }, a, b);
  assert.match(token, /^p3:10-19:[0-9a-f]{16}$/);
  assert.equal(batchToken('mlgate.telemetry.v1', 3, { first: 10, last: 19 }, a, b), token, 'a rebuilt batch gets the same token');
  assert.notEqual(batchToken('mlgate.telemetry.v1', 3, { first: 10, last: 19 }, b, a), token, 'other events at the same offsets do not');
  assert.notEqual(batchToken('other.topic', 3, { first: 10, last: 19 }, a, b), token);
});
