/**
 * `engines` in package.json is the oldest Node.js every installed dependency accepts, so `npm ci`
 * on a Node that package.json allows warns of no engine mismatch (EBADENGINE). Checked on the
 * lockfile: the packages `npm ci` installs, dev dependencies included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../cli/helpers.ts';

// npm's own range semantics (semver is installed with fastify; it ships no types).
interface SemVer { version: string }
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): SemVer | null; satisfies(version: SemVer | string, range: string): boolean;
};

interface LockEntry { version?: string; engines?: { node?: string } | string[]; optional?: boolean; os?: string[] }
const json = <T>(file: string): T => JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as T;

test('engines.node: every package in the lockfile runs on the oldest Node.js package.json allows', () => {
  const pkg = json<{ engines: { node: string } }>('package.json');
  const lock = json<{ packages: Record<string, LockEntry & { engines?: { node?: string } }> }>('package-lock.json');
  assert.equal(lock.packages['']!.engines?.node, pkg.engines.node, 'package-lock.json has the engines of package.json');
  const oldest = semver.minVersion(pkg.engines.node);
  assert.ok(oldest, `engines.node ${pkg.engines.node} is a range`);
  const tooNew = Object.entries(lock.packages)
    .filter(([path, e]) => path && !Array.isArray(e.engines) && e.engines?.node && !semver.satisfies(oldest, e.engines.node))
    .map(([path, e]) => `${path.replace(/^.*node_modules\//, '')}@${e.version} needs node ${(e.engines as { node: string }).node}`);
  assert.deepEqual(tooNew, [], `engines.node is ${pkg.engines.node}, but on Node ${oldest.version} npm ci would warn EBADENGINE for these`);
});
