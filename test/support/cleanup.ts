/**
 * Test cleanups that run last in, first out, and temporary directories removed after whatever was
 * registered later: what writes into a directory stops before the directory goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const stacks = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Runs `fn` when the test ends, after every cleanup registered later through this function (last
 * in, first out; `t.after` hooks run first in, first out). A stack that writes into a temporary
 * directory must stop before the directory is removed: removing it under a running embedded
 * ClickHouse fails with ENOTEMPTY. Every cleanup runs; the first error is thrown at the end.
 */
export function cleanup(t: TestContext, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const fns: Array<() => unknown> = (stack = []);
    stacks.set(t, fns);
    t.after(async () => {
      let first: unknown;
      for (const f of fns.reverse()) {
        try {
          await f();
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    });
  }
  stack.push(fn);
}

/** A temporary directory, removed when the test ends, after what was registered later with `cleanup`. */
export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mlgate-${prefix}-`));
  cleanup(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
