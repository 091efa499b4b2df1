// `mlgate migrate` as an operator runs it, on an embedded data directory of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

async function mlgate(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLICKHOUSE_') && !k.startsWith('MLGATE_CFG__')));
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', ...args], { cwd: ROOT, env: { ...clean, ...env } });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

test('mlgate migrate applies every migration once, reports status, and rejects a bad config by field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-migrate-'));
  const file = join(dir, 'mlgate.yaml');
  writeFileSync(file, `dataDir: ${dir}\nwarehouse:\n  database: cli_test\n  retention:\n    requests: 14\n`);
  const first = await mlgate(['migrate', '--config', file], {});
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /applied {2}0001_requests/);
  assert.match(first.out, /embedded warehouse, database cli_test: \d+ applied, 0 already applied/);
  const second = await mlgate(['migrate', '--config', file], {});
  assert.match(second.out, /0 applied, \d+ already applied/);
  const status = await mlgate(['migrate', '--status', '--config', file], {});
  assert.match(status.out, /applied {2}0002_requests_1m/);
  assert.doesNotMatch(status.out, /pending/);
  writeFileSync(file, `dataDir: ${dir}\nwarehouse:\n  database: bad-name\n`);
  const bad = await mlgate(['migrate', '--config', file], {});
  assert.notEqual(bad.code, 0);
  assert.match(bad.out, /MLG_CORE_CONFIG_INVALID.*warehouse\.database/);
  const usage = await mlgate(['migrate', '--bogus'], {});
  assert.equal(usage.code, 2);
  assert.match(usage.out, /usage: mlgate migrate/);
});

test('mlgate migrate --print prints the cluster-mode statements for the config and connects to nothing', async () => {
  // Port 1: nothing listens there, so a connection attempt would fail the command.
  const env = { CLICKHOUSE_URL: 'http://127.0.0.1:1', MLGATE_CFG__warehouse__cluster: '{"name":"prod"}' };
  const r = await mlgate(['migrate', '--print'], env);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^CREATE TABLE IF NOT EXISTS mlgate\.requests ON CLUSTER prod$/m);
  assert.match(r.out, /ENGINE = ReplicatedAggregatingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}'\)/);
  const both = await mlgate(['migrate', '--print', '--status'], env);
  assert.equal(both.code, 2);
  assert.match(both.out, /--status and --print exclude each other/);
});
