/**
 * The `mlgate` command as a user meets it: --version, a full help page for every command (exit
 * 0), usage mistakes exit 2 naming the problem, failures exit 1, and no stack trace for either.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHasher } from '../../services/telemetry/hash.ts';
import { BIN, hasStack, mlgate, pooled, ROOT } from './helpers.ts';

const COMMANDS = ['start', 'gateway', 'ingester', 'controller', 'audit', 'migrate', 'hash', 'redact', 'keys', 'simulate', 'errors', 'demo'];

test('mlgate --version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await mlgate(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `mlgate ${version}`);
});

test('every command has a full help page: usage, options explained, an example; exit 0', async () => {
  const results = await pooled(COMMANDS.map((c) => () => mlgate([c, '--help'])));
  COMMANDS.forEach((c, i) => {
    const r = results[i]!;
    assert.equal(r.code, 0, `${c}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: mlgate ${c}`), c);
    assert.match(r.stdout, /\noptions:\n {2}.+ {2}\S/, `${c} explains its options`);
    assert.match(r.stdout, /\n {2}-h, --help +print this help/, c);
    assert.match(r.stdout, new RegExp(`\\nexamples?:\\n {2}.*mlgate ${c}`), `${c} shows an example`);
    assert.ok(r.stdout.split('\n').length >= 10, `${c}: a page, not a line`);
  });
  const top = await mlgate(['help']);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`\\n {2}${c} +\\S`));
  const viaHelp = await mlgate(['help', 'keys']);
  assert.equal(viaHelp.stdout, results[COMMANDS.indexOf('keys')]!.stdout, 'mlgate help keys = mlgate keys --help');
});

test('audit subcommands: --help exits 0 even where an argument is required; a missing --payload-file is a usage error naming the file', async () => {
  const [rollout, input, verify, top] = await pooled([
    () => mlgate(['audit', 'rollout', '--help']), () => mlgate(['audit', 'input', '--payload-file', '/nope.json']), () => mlgate(['audit', 'verify', '--help']), () => mlgate(['audit', '--help']),
  ]);
  assert.equal(rollout.code, 0, rollout.stderr);
  assert.match(rollout.stdout, /usage: mlgate audit rollout ROLLOUT_ID/);
  assert.equal(verify.code, 0, verify.stderr);
  // A page, not a line: what it does, each option explained, an example.
  for (const r of [rollout, verify]) {
    assert.ok(r.stdout.split('\n').length >= 10 && /\noptions:\n/.test(r.stdout) && /\nexample:\n {2}mlgate audit /.test(r.stdout), r.stdout);
  }
  assert.match(rollout.stdout, /--action X +only decisions of this action/);
  assert.match(verify.stdout, /--anchors FILE +a report saved from an earlier verify/);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /rollout ROLLOUT_ID/);
  assert.equal(input.code, 2, input.stderr);
  assert.match(input.stderr, /--payload-file \/nope\.json: no such file/);
  assert.ok(!hasStack(input.stderr), input.stderr);
});

test('usage mistakes exit 2 with the problem and the usage line; no stack traces', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-cli-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['gateway', '--bogus'], /Unknown option '--bogus'[\s\S]*usage: mlgate gateway --config FILE/],
      [['gateway'], /--config FILE is required/],
      [['gateway', '--config', join(dir, 'missing.yml')], /--config .*missing\.yml: no such file/],
      [['controller', '--config', dir], /--config .*: is a directory/],
      [['keys', '--consumer', 'a b'], /--consumer must be letters/],
      [['simulate'], /--scenario FILE is required/],
      [['simulate', '--scenario', join(dir, 'nope.yaml')], /--scenario .*nope\.yaml: no such file/],
      [['simulate', '--scenario', 'x.yaml', '--runs', 'many'], /--runs: expected an integer/],
      [['demo', '--data-dir', join(file, 'sub')], /--data-dir .*a-file\/sub: cannot create or write the directory \(the path or a folder above it is a file\)/],
      [['demo', '--data-dir', file], /--data-dir .*a-file: cannot create or write the directory/],
      [['start', '--config', join(dir, 'missing.yaml')], /--config .*missing\.yaml: no such file/],
      [['redact', '--max-chars=-3'], /MLG_CORE_BAD_ARGUMENT: --max-chars/],
    ];
    const results = await pooled(cases.map(([args]) => () => mlgate(args)));
    cases.forEach(([args, re], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.ok(!hasStack(r.stderr), `${args.join(' ')} printed a stack:\n${r.stderr}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mlgate hash without --config uses the default config (its demo key)', async () => {
  const r = await mlgate(['hash'], { stdin: '{"text":"hi"}' });
  assert.equal(r.code, 0, r.stderr);
  const { parse } = await import('yaml');
  const cfg = parse(readFileSync(join(ROOT, 'config/mlgate.yaml'), 'utf8')) as { telemetry: { hashing: { key: string; keyId: string } } };
  assert.equal(r.stdout.trim(), createHasher(cfg.telemetry.hashing).hashValue({ text: 'hi' }));
});

test('an invalid MLGATE_CFG__ value is blamed on the environment variable, not the file; exit 1', async () => {
  const r = await mlgate(['migrate', '--status', '--config', 'deploy/mlgate.yml'], { env: { MLGATE_CFG__warehouse__requestTimeoutMs: '"soon"' } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /MLG_CORE_CONFIG_INVALID: invalid environment variable MLGATE_CFG__warehouse__requestTimeoutMs: warehouse\.requestTimeoutMs: /);
  assert.doesNotMatch(r.stderr, /deploy\/mlgate\.yml/, 'the file is not blamed');
  assert.ok(!hasStack(r.stderr), r.stderr);
});

test('mlgate migrate --status against a ClickHouse server that does not answer fails (exit 1), it does not list every migration as pending', async () => {
  const r = await mlgate(['migrate', '--status', '--config', 'deploy/mlgate.yml'], {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    env: { CLICKHOUSE_URL: 'http://127.0.0.1:1', CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: '' },
  });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /pending/, 'an unreachable server is no evidence that nothing has run');
  assert.match(r.stderr, /MLG_WH_UNAVAILABLE: .*ClickHouse unreachable \(ECONNREFUSED\)/);
  assert.ok(!hasStack(r.stderr), r.stderr);
});

test('a reader that closes the pipe early (mlgate migrate --status | head -1) ends mlgate quietly: exit 0, no EPIPE stack trace', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mlgate-epipe-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  // The embedded warehouse: after printing, migrate still closes it, so the failed write's error
  // event arrives while the process runs (a command that exits right after one write never sees it).
  const child = spawn(process.execPath, [BIN, 'migrate', '--status'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MLGATE_DATA_DIR: dataDir } });
  child.stdout.destroy(); // the reader is gone before mlgate writes its first line
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += String(c); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.ok(!hasStack(stderr) && !/EPIPE/.test(stderr), stderr);
  assert.equal(code, 0, stderr);
});
