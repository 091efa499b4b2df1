/**
 * `mlgate controller` as a process: bad arguments exit 2 with the usage, a bad config stops with
 * the field's path, and an embedded-mode controller (no Kafka: in-process control channel, always
 * leader) migrates its own embedded warehouse, serves its API, and stops cleanly on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { waitUntil } from '../../support/infra.ts';

const MAIN = fileURLToPath(new URL('../../../services/cli/main.ts', import.meta.url));
const TOKEN = 'cli-test-operator-token-0123456';

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'controller', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

test('mlgate controller: usage errors and a bad config name the problem', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-ctl-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const usage = run(['--bogus']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /usage: mlgate controller/);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, stringify({ controller: { port: 'x', rollouts: [{ id: 'a' }], tokens: [{ name: 'n', token: 'short' }] } }));
  const bad = run(['--config', file]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /MLG_CORE_CONFIG_INVALID/);
  assert.match(bad.stderr, /controller\.port/);
  assert.match(bad.stderr, /controller\.tokens\.0\.token: a token must be at least 24 characters/);
  writeFileSync(file, stringify({ dataDir: dir, controller: { port: 0, rollouts: [{ id: 'a', model: 'm', stable: 'v1', canary: 'v1' }] } }));
  const spec = run(['--config', file]);
  assert.equal(spec.status, 1);
  assert.match(spec.stderr, /MLG_CTL_SPEC_INVALID: invalid controller\.rollouts\.0: canary: must differ from stable/);
});

test('mlgate controller: embedded mode serves the API and stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-ctl-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mlgate.yaml');
  writeFileSync(file, stringify({
    dataDir: dir, log: { level: 'info' },
    controller: { instanceId: 'cli', port: 0, tokens: [{ name: 'ops', token: TOKEN }], rollouts: [{ id: 'cli-r', model: 'm', stable: 'v1', canary: 'v2' }] },
  }));
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'controller', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KAFKA_BROKERS: '' } });
  t.after(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  const url = await waitUntil('the controller listening', () => /"url":"(http:\/\/[^"]+)","msg":"controller started"/.exec(out)?.[1], 60_000, 100);
  const health = await fetch(`${url}/healthz`).then((r) => r.json());
  assert.deepEqual(health, { status: 'ok', leader: true, instance: 'cli' });
  const got = await waitUntil('the config rollout started', async () => {
    const r = await fetch(`${url}/v1/rollouts/cli-r`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((x) => x.json() as Promise<{ rollout: { phase: string; weight: number } }>);
    return r.rollout.phase === 'progressing' ? r.rollout : undefined;
  }, 15_000);
  assert.equal(got.weight, 5);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out.slice(-2000));
  assert.match(out, /"msg":"controller stopped"/);
});
