/**
 * The package as users get it: `npm run build && npm pack`, the tarball installed globally into an
 * empty prefix (`npm install -g --prefix DIR <tgz>`, as README says, dependencies from the npm
 * registry: the lockfile's overrides do not apply there), with no engine warning, then the
 * `mlgate` it puts on PATH: --version, gateway --help, demo --help (demo/ compiled into dist/), and
 * the gateway started from the distributed config (deploy/mlgate.yml, shipped in the package)
 * against the test Kafka until /healthz answers.
 * Slow (a full tsc emit and an install of every dependency).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { needClickHouseServer, needKafka, uniqueName } from '../support/infra.ts';
import { ROOT } from '../cli/helpers.ts';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('npm pack + npm install -g <tgz> into an empty prefix gives a working mlgate that starts the gateway from deploy/mlgate.yml', { timeout: 1_500_000 }, async (t) => {
  const brokers = await needKafka(t);
  const clickhouse = await needClickHouseServer(t);
  if (!brokers || !clickhouse) return;
  const work = mkdtempSync(join(tmpdir(), 'mlgate-pack-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));

  await run(NPM, ['run', 'build'], { cwd: ROOT, maxBuffer: 64 << 20 });
  assert.ok(existsSync(join(ROOT, 'dist/services/cli/main.js')), 'the build wrote dist/');
  const packed = await run(NPM, ['pack', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 << 20 });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  assert.ok(files.includes('dist/services/cli/main.js') && files.includes('deploy/mlgate.yml') && files.includes('config/mlgate.yaml'), 'the package ships dist/ and the configs');
  assert.ok(!files.some((f) => f.startsWith('services/') || f.startsWith('test/')), 'no TypeScript sources or tests in the package');
  assert.ok(files.includes('dist/demo/run.js'), 'the package ships the compiled demo (mlgate demo)');

  const app = join(work, 'app');
  const prefix = join(work, 'global');
  await run('mkdir', ['-p', app, prefix]);
  const install = await run(NPM, ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', join(work, info!.filename)], { cwd: app, maxBuffer: 64 << 20 });
  assert.doesNotMatch(install.stdout + install.stderr, /EBADENGINE/, `no dependency wants a newer Node than engines:\n${install.stderr}`);
  const bin = join(prefix, 'bin/mlgate');
  const installed = join(prefix, 'lib/node_modules/mlgate');
  assert.ok(!existsSync(join(installed, 'node_modules/tsx')), 'tsx (a dev dependency) is not installed with the package');

  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal((await run(bin, ['--version'], { cwd: app })).stdout.trim(), `mlgate ${version}`);
  const help = await run(bin, ['gateway', '--help'], { cwd: app });
  assert.match(help.stdout, /^usage: mlgate gateway --config FILE/);
  assert.match(help.stdout, /\noptions:\n/);
  const demoHelp = await run(bin, ['demo', '--help'], { cwd: app });
  assert.match(demoHelp.stdout, /^usage: mlgate demo/);
  // The demo's closing lines tell the reader to run `mlgate audit ...`, not a checkout's npm script.
  const summary = await run(process.execPath, ['-e', `import(${JSON.stringify(join(installed, 'dist/demo/summary.js'))}).then((m) => console.log(m.CLI_COMMAND))`], { cwd: app });
  assert.equal(summary.stdout.trim(), 'mlgate');

  const topic = uniqueName('pack_telemetry');
  const child = spawn(bin, ['gateway', '--config', join(installed, 'deploy/mlgate.yml')], {
    cwd: app,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MLGATE_'))),
      KAFKA_BROKERS: brokers.join(','), CLICKHOUSE_URL: clickhouse,
      MLGATE_HASH_KEY: 'pack-test-hash-key-0123456789', MLGATE_ADMIN_TOKEN: 'pack-test-admin-token-0123456789',
      MLGATE_DATA_DIR: join(work, 'data'), MLGATE_CFG__telemetry__topic: topic,
      // Free loopback ports instead of the file's 0.0.0.0:8080/8081.
      MLGATE_CFG__gateway__host: '127.0.0.1', MLGATE_CFG__gateway__port: '0',
      MLGATE_CFG__gateway__admin__host: '127.0.0.1', MLGATE_CFG__gateway__admin__port: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += String(c); });
  child.stderr.on('data', (c: Buffer) => { out += String(c); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

  const deadline = Date.now() + 180_000;
  let adminUrl: string | undefined;
  while (!adminUrl) {
    if (child.exitCode !== null) assert.fail(`the gateway exited ${child.exitCode}:\n${out.slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`no 'mlgate gateway ready' line within 180 s:\n${out.slice(-3000)}`);
    const ready = out.split('\n').find((l) => l.includes('"mlgate gateway ready"'));
    if (ready) adminUrl = (JSON.parse(ready) as { admin_url: string }).admin_url;
    else await new Promise((r) => setTimeout(r, 200));
  }
  const health = await fetch(`${adminUrl}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out.slice(-3000));
});
