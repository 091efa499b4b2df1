import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResendWindow } from '../../services/telemetry/resend-window.ts';
import type { EncodedEvent } from '../../services/telemetry/queue.ts';

const ev = (id: string, bytes = 10): EncodedEvent => ({ key: id, value: Buffer.alloc(bytes, 120) });
const keys = (es: readonly EncodedEvent[] | undefined) => es?.map((e) => e.key);

test('resend window: offsets that only grow are no loss; a partition whose offset goes backwards returns everything acknowledged before, oldest first', () => {
  const w = new ResendWindow({ seconds: 60, maxBytes: 1 << 20 });
  assert.equal(w.acknowledged([ev('a'), ev('b')], [[0, 0], [1, 0]], 1000), undefined);
  assert.equal(w.acknowledged([ev('c')], [[0, 2]], 2000), undefined);
  assert.equal(w.acknowledged([ev('d')], [[1, 5]], 3000), undefined, 'a partition seen before at a lower offset');
  assert.equal(w.acknowledged([ev('e')], [[2, 0]], 3500), undefined, 'a partition seen for the first time');
  assert.equal(w.size(), 5);
  // Partition 1 is back at offset 0: its log was wiped (or truncated).
  assert.deepEqual(keys(w.acknowledged([ev('f'), ev('g')], [[0, 3], [1, 0]], 4000)), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(w.size(), 2, 'the batch that revealed the loss is kept; what was resent is not kept twice');
  // After the loss the offsets start again from where the new log is: no second alarm.
  assert.equal(w.acknowledged([ev('h')], [[1, 1]], 4500), undefined);
  assert.equal(w.acknowledged([ev('i')], [[0, 4]], 4600), undefined);
});

test('resend window: keeps only the last `seconds` and at most `maxBytes`, oldest dropped first', () => {
  const w = new ResendWindow({ seconds: 10, maxBytes: 1000 });
  w.acknowledged([ev('old')], [[0, 0]], 0);
  w.acknowledged([ev('mid')], [[0, 1]], 5_000);
  w.acknowledged([ev('new')], [[0, 2]], 12_000);
  assert.deepEqual(keys(w.take()), ['mid', 'new'], 'the event acknowledged 12 s ago is gone');
  const b = new ResendWindow({ seconds: 60, maxBytes: 250 });
  for (let i = 0; i < 5; i++) b.acknowledged([ev(`e${i}`, 99)], [[0, i]], i); // 100 bytes each with its key
  assert.deepEqual(keys(b.take()), ['e3', 'e4'], 'at most 250 bytes kept');
  assert.equal(b.size(), 0);
});

test('resend window: 0 seconds keeps nothing but still reports a loss (the sink counts it)', () => {
  const w = new ResendWindow({ seconds: 0, maxBytes: 1 << 20 });
  w.acknowledged([ev('a')], [[0, 7]], 0);
  assert.equal(w.size(), 0);
  assert.deepEqual(w.acknowledged([ev('b')], [[0, 0]], 1), []);
  assert.throws(() => new ResendWindow({ seconds: -1, maxBytes: 0 }), /seconds and maxBytes/);
});

test('resend window: a long run keeps only its window', () => {
  const w = new ResendWindow({ seconds: 1, maxBytes: 1 << 20 });
  for (let i = 0; i < 50_000; i++) w.acknowledged([ev(`e${i}`)], [[0, i]], i);
  assert.ok(w.size() <= 1001, `kept ${w.size()}`);
  assert.ok(Math.abs(w.span(50_000) - 1) < 0.01);
});
