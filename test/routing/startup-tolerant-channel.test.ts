import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../services/core/log.ts';
import type { ControlChannel, ControlHandler } from '../../services/routing/channel.ts';
import type { RoutingState } from '../../services/routing/state.ts';
import { StartupTolerantChannel } from '../../services/routing/startup-tolerant-channel.ts';
import { waitUntil } from '../support/infra.ts';

/** A channel whose reads are answered by the test (a port implementation, not a Kafka stand-in). */
class ScriptedChannel implements ControlChannel {
  reads: Array<{ resolve: (s: RoutingState[]) => void; reject: (e: Error) => void }> = [];
  readonly handlers = new Set<ControlHandler>();
  async publish(): Promise<void> {}
  subscribe(h: ControlHandler): () => void { this.handlers.add(h); return () => this.handlers.delete(h); }
  readToEnd(): Promise<RoutingState[]> { return new Promise((resolve, reject) => this.reads.push({ resolve, reject })); }
  async close(): Promise<void> {}
}

const state = (generation: number) => ({ model: 'm', generation } as unknown as RoutingState);

test('startup-tolerant channel: a read that hangs past the deadline starts empty, then delivers when it answers', async () => {
  const inner = new ScriptedChannel();
  const ch = new StartupTolerantChannel(inner, { startupTimeoutMs: 50, retryMs: 20, logger: silentLogger() });
  const seen: number[] = [];
  const first = ch.readToEnd();
  ch.subscribe((s) => seen.push(s.generation));
  assert.deepEqual(await first, []);
  inner.reads[0]!.resolve([state(7)]);
  await waitUntil('the late states delivered', () => seen.includes(7), 5000, 5);
  await ch.close();
});

test('startup-tolerant channel: a failed read is retried until it answers; a prompt read passes through', async () => {
  const inner = new ScriptedChannel();
  const ch = new StartupTolerantChannel(inner, { startupTimeoutMs: 1000, retryMs: 20, logger: silentLogger() });
  const seen: number[] = [];
  ch.subscribe((s) => seen.push(s.generation));
  const first = ch.readToEnd();
  inner.reads[0]!.reject(new Error('broker down'));
  assert.deepEqual(await first, []);
  await waitUntil('a retry', () => inner.reads.length === 2, 5000, 5);
  inner.reads[1]!.reject(new Error('still down'));
  await waitUntil('another retry', () => inner.reads.length === 3, 5000, 5);
  inner.reads[2]!.resolve([state(3), state(4)]);
  await waitUntil('states delivered', () => seen.length === 2, 5000, 5);
  assert.deepEqual(seen, [3, 4]);
  await ch.close();

  const inner2 = new ScriptedChannel();
  const ch2 = new StartupTolerantChannel(inner2, { startupTimeoutMs: 1000, retryMs: 20, logger: silentLogger() });
  const p = ch2.readToEnd();
  inner2.reads[0]!.resolve([state(9)]);
  assert.deepEqual((await p).map((s) => s.generation), [9]);
  assert.throws(() => new StartupTolerantChannel(inner2, { startupTimeoutMs: 0, retryMs: 1, logger: silentLogger() }), /startupTimeoutMs/);
});
