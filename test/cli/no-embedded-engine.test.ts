/**
 * On a platform chdb publishes no native build for (simulated: test/cli/fixtures/no-chdb.mjs hides
 * the native package from the child process), server-mode commands still work and embedded mode
 * fails with one clear message naming the platform and the alternative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hasStack, mlgate, pooled, ROOT } from './helpers.ts';

const HIDE = ['--import', join(ROOT, 'test/cli/fixtures/no-chdb.mjs')];

test('without the embedded engine: controller, ingester and migrate --help work; mlgate start fails with one clear message', async () => {
  const [controller, ingester, migrate, start] = await pooled([
    () => mlgate(['controller', '--help'], { nodeArgs: HIDE }),
    () => mlgate(['ingester', '--help'], { nodeArgs: HIDE }),
    () => mlgate(['migrate', '--help'], { nodeArgs: HIDE }),
    () => mlgate(['start'], { nodeArgs: HIDE, env: { MLGATE_DATA_DIR: join(ROOT, 'test-artifacts', 'no-chdb') } }),
  ]);
  for (const r of [controller, ingester, migrate]) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: mlgate /);
  }
  assert.equal(start.code, 1, start.stdout + start.stderr);
  const platform = `${process.platform}-${process.arch}`;
  assert.match(start.stderr, new RegExp(`MLG_WH_EMBEDDED_UNSUPPORTED: the embedded ClickHouse engine \\(chdb\\) cannot load on ${platform}`));
  assert.match(start.stderr, /use a ClickHouse server: warehouse\.engine: server with warehouse\.url \(or CLICKHOUSE_URL\)/);
  assert.ok(!hasStack(start.stderr), start.stderr);
  assert.equal(start.stderr.trim().split('\n').length, 1, `one message:\n${start.stderr}`);
});
