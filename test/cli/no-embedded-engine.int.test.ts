/**
 * Server mode needs no embedded engine: with chdb's native package hidden (as on a platform chdb
 * has no build for), `mlgate migrate --status` reads the real ClickHouse server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { needClickHouseServer, uniqueName } from '../support/infra.ts';
import { hasStack, mlgate, ROOT } from './helpers.ts';

test('without the embedded engine, mlgate migrate --status works against a ClickHouse server', async (t) => {
  const url = await needClickHouseServer(t);
  if (!url) return;
  const r = await mlgate(['migrate', '--status', '--config', 'deploy/mlgate.yml'], {
    nodeArgs: ['--import', join(ROOT, 'test/cli/fixtures/no-chdb.mjs')],
    env: { CLICKHOUSE_URL: url, CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: '', CLICKHOUSE_DATABASE: uniqueName('nochdb') },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pending {2}0001_requests/m, 'a fresh database: every migration pending');
  assert.ok(!hasStack(r.stderr), r.stderr);
});
