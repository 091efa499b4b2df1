import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VersionPicker, hashString } from '../../services/gateway/routing/version-picker.ts';

/** Deterministic PRNG so proportions do not flake. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keys = (n: number) => Array.from({ length: n }, (_, i) => `consumer-${i}`);

test('choice: weighted draws follow the weights', () => {
  const p = new VersionPicker([{ name: 'stable', weight: 90 }, { name: 'canary', weight: 10 }]);
  const rnd = mulberry32(42);
  let canary = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) if (p.pick(rnd()) === 'canary') canary++;
  assert.ok(Math.abs(canary / n - 0.1) < 0.005, `canary share ${canary / n}`);
  assert.equal(p.pick(0), 'stable');
  assert.equal(p.pick(0.95), 'canary');
});

test('choice: zero weights are never chosen; all zero chooses nothing', () => {
  const p = new VersionPicker([{ name: 'a', weight: 0 }, { name: 'b', weight: 100 }, { name: 'c', weight: 0 }]);
  for (const k of keys(500)) assert.equal(p.pickSticky(k), 'b');
  assert.equal(p.pick(0.999), 'b');
  const empty = new VersionPicker([{ name: 'a', weight: 0 }]);
  assert.equal(empty.empty, true);
  assert.equal(empty.pick(0.5), undefined);
  assert.equal(empty.pickSticky('k'), undefined);
  assert.throws(() => new VersionPicker([{ name: 'a', weight: -1 }]), /weight of a/);
});

test('choice: sticky keys keep their version and split by weight', () => {
  const p = new VersionPicker([{ name: 'stable', weight: 90 }, { name: 'canary', weight: 10 }]);
  const again = new VersionPicker([{ name: 'stable', weight: 90 }, { name: 'canary', weight: 10 }]);
  const all = keys(20_000);
  let canary = 0;
  for (const k of all) {
    const v = p.pickSticky(k);
    assert.equal(again.pickSticky(k), v, `key ${k} must map the same way every time`);
    if (v === 'canary') canary++;
  }
  assert.ok(Math.abs(canary / all.length - 0.1) < 0.01, `sticky canary share ${canary / all.length}`);
});

test('choice: raising the canary from 10 to 20 moves only keys that must move', () => {
  const before = new VersionPicker([{ name: 'stable', weight: 90 }, { name: 'canary', weight: 10 }]);
  const after = new VersionPicker([{ name: 'stable', weight: 80 }, { name: 'canary', weight: 20 }]);
  const all = keys(20_000);
  let moved = 0;
  for (const k of all) {
    const a = before.pickSticky(k);
    const b = after.pickSticky(k);
    if (a === 'canary') assert.equal(b, 'canary', `key ${k} was on the canary and must stay`);
    if (a !== b) {
      assert.equal(a, 'stable');
      moved++;
    }
  }
  // The minimum that must move is 10% of keys (the canary's share grows by 10 points).
  assert.ok(Math.abs(moved / all.length - 0.1) < 0.01, `moved ${moved / all.length}`);
});

test('choice: with three versions, raising one only pulls keys to it', () => {
  const before = new VersionPicker([{ name: 'a', weight: 60 }, { name: 'b', weight: 30 }, { name: 'c', weight: 10 }]);
  const after = new VersionPicker([{ name: 'a', weight: 50 }, { name: 'b', weight: 25 }, { name: 'c', weight: 25 }]);
  for (const k of keys(10_000)) {
    const x = before.pickSticky(k);
    const y = after.pickSticky(k);
    if (x !== y) assert.equal(y, 'c', `key ${k} moved ${x} -> ${y}; only moves to c are allowed`);
  }
});

test('choice: string hash is stable and seed-dependent', () => {
  assert.equal(hashString('abc'), hashString('abc'));
  assert.notEqual(hashString('abc', 1), hashString('abc', 2));
  assert.notEqual(hashString('abc'), hashString('abd'));
});
