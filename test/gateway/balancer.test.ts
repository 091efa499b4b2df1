import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Balancer } from '../../services/gateway/routing/balancer.ts';

function counts(b: Balancer, n: number): number[] {
  const c = new Array<number>(b.size).fill(0);
  for (let i = 0; i < n; i++) c[b.pick()]!++;
  return c;
}

test('balancer: round robin cycles over the targets', () => {
  const b = new Balancer({ weights: [1, 1, 1], strategy: 'round_robin', ejectAfter: 3, ejectMs: 1000 });
  assert.deepEqual([b.pick(), b.pick(), b.pick(), b.pick()], [0, 1, 2, 0]);
});

test('balancer: weighted spreads by weight, interleaved', () => {
  const b = new Balancer({ weights: [5, 1, 1], strategy: 'weighted', ejectAfter: 0, ejectMs: 1000 });
  assert.deepEqual(counts(b, 700), [500, 100, 100]);
  const seq = Array.from({ length: 7 }, () => b.pick());
  assert.notDeepEqual(seq.slice(0, 5), [0, 0, 0, 0, 0], 'smooth WRR interleaves');
});

test('balancer: least outstanding prefers the idle target', () => {
  const b = new Balancer({ weights: [1, 1], strategy: 'least_outstanding', ejectAfter: 0, ejectMs: 1000 });
  b.begin(0);
  b.begin(0);
  b.begin(1);
  assert.equal(b.pick(), 1);
  assert.equal(b.pick(), 1);
  b.end(0, true);
  b.end(0, true);
  assert.equal(b.pick(), 0);
});

test('balancer: passive ejection benches a failing target, then lets it back', () => {
  let now = 0;
  const b = new Balancer({ weights: [1, 1], strategy: 'round_robin', ejectAfter: 3, ejectMs: 1000, now: () => now });
  for (let i = 0; i < 3; i++) { b.begin(0); b.end(0, false); }
  assert.equal(b.view()[0]!.ejected, true);
  assert.deepEqual(counts(b, 4), [0, 4]);
  // The last usable target is never benched (panic threshold): it keeps taking requests.
  for (let i = 0; i < 3; i++) { b.begin(1); b.end(1, false); }
  assert.equal(b.view()[1]!.ejected, false);
  assert.equal(b.available(), true);
  assert.equal(b.pick(), 1);
  now += 1000;
  assert.equal(b.available(), true);
  assert.deepEqual(counts(b, 4), [2, 2]);
});

test('balancer: a single target failing in a row stays in; a second one is benched once the first is back', () => {
  const now = 0;
  const one = new Balancer({ weights: [1], strategy: 'round_robin', ejectAfter: 2, ejectMs: 1000, now: () => now });
  for (let i = 0; i < 10; i++) { one.begin(0); one.end(0, false); }
  assert.equal(one.available(), true);
  assert.equal(one.pick(), 0);
  const two = new Balancer({ weights: [1, 1], strategy: 'round_robin', ejectAfter: 2, ejectMs: 1000, now: () => now });
  two.setHealthy(1, false); // down by health checks: target 0 is the last usable one
  for (let i = 0; i < 4; i++) { two.begin(0); two.end(0, false); }
  assert.equal(two.view()[0]!.ejected, false);
  two.setHealthy(1, true);
  for (let i = 0; i < 2; i++) { two.begin(0); two.end(0, false); }
  assert.equal(two.view()[0]!.ejected, true, 'with another usable target it is benched as before');
});

test('balancer: a success resets the failure run; health verdicts and exclusions apply', () => {
  const b = new Balancer({ weights: [1, 1], strategy: 'round_robin', ejectAfter: 2, ejectMs: 1000 });
  b.begin(0); b.end(0, false);
  b.begin(0); b.end(0, true);
  b.begin(0); b.end(0, false);
  assert.equal(b.view()[0]!.ejected, false);
  b.setHealthy(1, false);
  assert.deepEqual(counts(b, 3), [3, 0]);
  assert.equal(b.pick(new Set([0])), -1);
  b.setHealthy(1, true);
  assert.equal(b.pick(new Set([0])), 1);
  assert.throws(() => new Balancer({ weights: [], strategy: 'round_robin', ejectAfter: 0, ejectMs: 1 }), /at least one/);
});
