/** The test-support cleanup stack: last in, first out, every cleanup runs, the first error is reported. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, tempDir } from './cleanup.ts';

test('cleanup: runs last in, first out, after the test, and removes a temporary directory last', async (t) => {
  const order: string[] = [];
  let dir = '';
  await t.test('inner', (inner) => {
    dir = tempDir(inner, 'cleanup');
    cleanup(inner, async () => {
      assert.ok(existsSync(dir), 'the directory is still there while later cleanups run');
      writeFileSync(join(dir, 'late-write'), 'x'); // a writer that stops late still finds its directory
      order.push('writer stopped');
    });
    cleanup(inner, () => { order.push('second'); });
    order.push('test body');
  });
  assert.deepEqual(order, ['test body', 'second', 'writer stopped']);
  assert.equal(existsSync(dir), false, 'the directory is removed after the cleanups registered later');
});

test('cleanup: a failing cleanup does not stop the others, and the first error is thrown at the end', async () => {
  // A stand-in for the test context, so the hook can be run and its error caught here (a real
  // subtest whose hook throws would fail this test too).
  const hooks: Array<() => Promise<void>> = [];
  const ctx = { after: (fn: () => Promise<void>) => { hooks.push(fn); } } as unknown as TestContext;
  const ran: string[] = [];
  const dir = tempDir(ctx, 'cleanup');
  cleanup(ctx, () => { ran.push('first registered'); });
  cleanup(ctx, () => { throw new Error('boom 1'); });
  cleanup(ctx, async () => { await Promise.resolve(); throw new Error('boom 2'); });
  cleanup(ctx, () => { ran.push('last registered'); });
  assert.equal(hooks.length, 1, 'one t.after hook runs the whole stack');
  await assert.rejects(hooks[0]!(), /boom 2/, 'the first error in run order');
  assert.deepEqual(ran, ['last registered', 'first registered']);
  assert.equal(existsSync(dir), false, 'the directory registered first is removed last, despite the errors');
});
