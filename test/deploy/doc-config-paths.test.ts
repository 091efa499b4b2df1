/**
 * Every `--config PATH` a reader can copy from the README or docs/ names a file that exists: the
 * distributed config is deploy/mlgate.yml, the embedded one config/mlgate.yaml (a bare
 * `mlgate.yaml` was copied from the docs and failed with "no such file"). Placeholders in capitals
 * (FILE, F) and `...` are not paths; data/demo/mlgate.yaml is written by the demo itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../cli/helpers.ts';

const WRITTEN_AT_RUN_TIME = new Set(['data/demo/mlgate.yaml']);

test('README and docs: every --config path names a file of the repository', () => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const missing: string[] = [];
  let seen = 0;
  for (const file of files) {
    readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/(?:^|\s)(?:-c|--config)[ =]([^\s`'")\]]+)/g)) {
        const path = m[1]!;
        if (/^[A-Z]+$/.test(path) || path.includes('…') || path.includes('...') || path.startsWith('$')) continue;
        seen++;
        if (!WRITTEN_AT_RUN_TIME.has(path) && !existsSync(join(ROOT, path))) missing.push(`${file}:${i + 1}: --config ${path}`);
      }
    });
  }
  assert.ok(seen >= 5, 'the docs do show --config paths');
  assert.deepEqual(missing, [], 'paths a reader would copy that do not exist (the distributed config is deploy/mlgate.yml)');
});
