import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type BreakerState } from '../../services/gateway/routing/breaker.ts';

function breaker(over: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  let now = 1_000_000;
  const changes: BreakerState[] = [];
  const b = new CircuitBreaker({
    enabled: true, windowMs: 10_000, buckets: 10, minRequests: 10, failureRatio: 0.5, openMs: 5_000, halfOpenProbes: 2,
    now: () => now, onChange: (s) => changes.push(s), ...over,
  });
  return { b, changes, advance: (ms: number) => { now += ms; } };
}

test('breaker: stays closed below minRequests, opens at the failure ratio', () => {
  const { b, changes } = breaker();
  for (let i = 0; i < 9; i++) b.record(b.acquire()!, false);
  assert.equal(b.state, 'closed', '9 failures are below minRequests=10');
  b.record(b.acquire()!, false);
  assert.equal(b.state, 'open');
  assert.equal(b.acquire(), undefined);
  assert.equal(b.wouldAllow(), false);
  assert.deepEqual(changes, ['open']);
});

test('breaker: successes keep the ratio under the threshold', () => {
  const { b } = breaker();
  for (let i = 0; i < 60; i++) b.record(b.acquire()!, i % 3 !== 0); // one failure in three
  assert.equal(b.state, 'closed');
});

test('breaker: old failures roll out of the window', () => {
  const { b, advance } = breaker();
  for (let i = 0; i < 9; i++) b.record(b.acquire()!, false);
  advance(11_000); // the whole window passed
  b.record(b.acquire()!, false);
  assert.equal(b.state, 'closed', 'only one failure is in the window now');
});

test('breaker: half-open after openMs; probes close it after enough successes', () => {
  const { b, changes, advance } = breaker();
  for (let i = 0; i < 10; i++) b.record(b.acquire()!, false);
  advance(4_999);
  assert.equal(b.state, 'open');
  advance(1);
  assert.equal(b.state, 'half_open');
  const p1 = b.acquire();
  const p2 = b.acquire();
  assert.equal(p1, 'probe');
  assert.equal(p2, 'probe');
  assert.equal(b.acquire(), undefined, 'only halfOpenProbes probes at once');
  b.record(p1!, true);
  assert.equal(b.state, 'half_open');
  b.record(p2!, true);
  assert.equal(b.state, 'closed');
  assert.deepEqual(changes, ['open', 'half_open', 'closed']);
  // the window was cleared: a single failure does not reopen it
  b.record(b.acquire()!, false);
  assert.equal(b.state, 'closed');
});

test('breaker: a failed probe opens it again; release frees a probe slot', () => {
  const { b, advance } = breaker({ halfOpenProbes: 1 });
  for (let i = 0; i < 10; i++) b.record(b.acquire()!, false);
  advance(5_000);
  const p = b.acquire()!;
  assert.equal(b.acquire(), undefined);
  b.release(p);
  const q = b.acquire()!;
  assert.equal(q, 'probe');
  b.record(q, false);
  assert.equal(b.state, 'open');
  advance(5_000);
  assert.equal(b.state, 'half_open');
});

test('breaker: late results from before opening are ignored; reset closes', () => {
  const { b } = breaker();
  const late = b.acquire()!;
  for (let i = 0; i < 10; i++) b.record(b.acquire()!, false);
  b.record(late, true);
  assert.equal(b.state, 'open');
  b.reset();
  assert.equal(b.state, 'closed');
  assert.equal(b.acquire(), 'normal');
});

test('breaker: disabled never opens; bad options are refused', () => {
  const { b } = breaker({ enabled: false });
  for (let i = 0; i < 100; i++) b.record(b.acquire()!, false);
  assert.equal(b.acquire(), 'normal');
  assert.throws(() => breaker({ failureRatio: 0 }), /failureRatio/);
  assert.throws(() => breaker({ buckets: 0 }), /buckets/);
});
