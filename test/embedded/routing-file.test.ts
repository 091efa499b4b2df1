/**
 * The embedded mode's file-backed control channel: states survive a new instance (a restart),
 * subscribers get every publish, an older generation never replaces a newer one on disk, and bad
 * files or states are named instead of silently dropping the routing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RoutingState } from '../../services/routing/state.ts';
import { FileBackedControlChannel } from '../../services/embedded/routing-file.ts';
import { tempDir } from './util.ts';

function state(model: string, generation: number, canary: number): RoutingState {
  return {
    model, generation, fallback: 'v1',
    versions: [{ name: 'v1', weight: 100 - canary, state: 'active' }, { name: 'v2', weight: canary, state: 'active' }],
    cause: { kind: 'controller', actor: 'controller-test', reason: 'step', id: `d-${generation}`, at: 1_700_000_000_000 + generation },
    rollout_id: 'r1',
  };
}

test('routing file: published states are on disk and read back by a new channel', async (t) => {
  const file = join(tempDir(t, 'routing'), 'control', 'routing-states.json');
  const a = new FileBackedControlChannel({ file });
  const seen: number[] = [];
  a.subscribe((s) => seen.push(s.generation));
  await a.publish(state('sentiment', 10, 20));
  await a.publish(state('sentiment', 11, 50));
  await a.publish(state('other', 3, 5));
  await a.publish(state('sentiment', 9, 99)); // older: delivered, but the file keeps the newer one
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [10, 11, 3, 9]);
  await a.close();
  await assert.rejects(a.publish(state('sentiment', 12, 100)), { code: 'MLG_CONTROL_CHANNEL_CLOSED' });

  const b = new FileBackedControlChannel({ file });
  const states = (await b.readToEnd()).sort((x, y) => x.model.localeCompare(y.model));
  assert.deepEqual(states.map((s) => [s.model, s.generation]), [['other', 3], ['sentiment', 11]]);
  assert.equal(states[1]!.versions.find((v) => v.name === 'v2')!.weight, 50);
  await b.close();
});

test('routing file: an invalid state is refused and nothing is written', async (t) => {
  const file = join(tempDir(t, 'routing'), 'states.json');
  const ch = new FileBackedControlChannel({ file });
  await assert.rejects(ch.publish({ ...state('m', 1, 10), versions: [{ name: 'v1', weight: 60, state: 'active' }] }), { code: 'MLG_CONTROL_STATE_INVALID' });
  assert.throws(() => readFileSync(file), { code: 'ENOENT' });
  await ch.close();
});

test('routing file: a file that does not parse stops the start, naming the file', (t) => {
  const file = join(tempDir(t, 'routing'), 'states.json');
  writeFileSync(file, '{"version": 1, "states": [');
  assert.throws(() => new FileBackedControlChannel({ file }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MLG_EMB_ROUTING_STORE_UNREADABLE');
    assert.ok(err.message.includes(file));
    return true;
  });
  writeFileSync(file, '{"states": []}');
  assert.throws(() => new FileBackedControlChannel({ file }), { code: 'MLG_EMB_ROUTING_STORE_UNREADABLE' });
});

test('routing file: an invalid saved state is skipped, the valid ones are kept', async (t) => {
  const file = join(tempDir(t, 'routing'), 'states.json');
  writeFileSync(file, JSON.stringify({ version: 1, states: [{ model: 'broken', generation: -1 }, state('good', 4, 10)] }));
  const ch = new FileBackedControlChannel({ file });
  assert.deepEqual((await ch.readToEnd()).map((s) => s.model), ['good']);
  await ch.close();
});
