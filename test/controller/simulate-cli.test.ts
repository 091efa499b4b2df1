import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../services/cli/commands/simulate.ts';
import { ControllerErrors } from '../../services/controller/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'mlgate-sim-'));

/** Runs the command with console output captured. */
async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    return { code: await run(argv, {}), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('simulate runs a scenario file, prints JSON and writes it with --out', async () => {
  const file = join(dir, 'errors.yaml');
  writeFileSync(file, [
    'name: cli-errors', 'runs: 50', 'seed: 1', 'traffic: { rps: 400 }',
    'arms:', '  stable: { errorRate: 0.01, latency: { median: 100, p95: 250 } }', '  canary: { errorRate: 0.05 }',
  ].join('\n'));
  const out = join(dir, 'out.json');
  const r = await capture(['--scenario', file, '--runs', '12', '--seed', '3', '--out', out]);
  assert.equal(r.code, 0, r.err);
  const printed = JSON.parse(r.out);
  assert.equal(printed.runs, 12);
  assert.equal(printed.seed, 3);
  assert.equal(printed.rollbacks + printed.promotions + printed.paused + printed.undecided, 12);
  assert.ok(printed.rollbacks >= 11, `rollbacks ${printed.rollbacks}`);
  assert.equal(typeof printed.timeToRollbackS.median, 'number');
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), printed);
  assert.match(r.err, /cli-errors: 12 runs/);
});

test('simulate --baselines runs mlgate, Flagger-style and Kayenta-style over the same traffic, with 95% intervals', async () => {
  const file = join(dir, 'aa.yaml');
  writeFileSync(file, ['name: cli-aa', 'runs: 10', 'seed: 5', 'traffic: { rps: 400 }', 'arms:', '  stable: { errorRate: 0.01, latency: { median: 100, p95: 250 } }',
    'rollout: { bake: { seconds: 0 } }'].join('\n'));
  const r = await capture(['--scenario', file, '--baselines']);
  assert.equal(r.code, 0, r.err);
  const printed = JSON.parse(r.out) as { results: { policy: string; runs: number; promotions: number; rollbacks: number; promotionRateCI95: [number, number]; rollbackRateCI95: [number, number] }[] };
  assert.deepEqual(printed.results.map((x) => x.policy), ['mlgate', 'flagger', 'kayenta']);
  for (const x of printed.results) {
    assert.equal(x.runs, 10);
    const [lo, hi] = x.promotionRateCI95;
    assert.ok(lo <= x.promotions / 10 && x.promotions / 10 <= hi && hi - lo > 0.1, `${x.policy}: ${x.promotions}/10 in [${lo}, ${hi}]`);
    assert.ok(x.rollbackRateCI95[0] <= x.rollbacks / 10 && x.rollbacks / 10 <= x.rollbackRateCI95[1]);
  }
  assert.equal(printed.results[0]!.promotions, 10, 'identical arms: mlgate promotes');
  assert.match(r.err, /cli-aa \/ kayenta: 10 runs, \d+ rolled back \(\d+\.\d% \[\d+\.\d%-\d+\.\d%\]\)/);
});

test('bad arguments exit 2 and say what is wrong', async () => {
  let r = await capture([]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--scenario FILE is required/);
  r = await capture(['--scenario', 'x.yaml', '--runs', 'many']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--runs: expected an integer/);
  r = await capture(['--scenario', 'x.yaml', '--bogus']);
  assert.equal(r.code, 2);
  assert.match(r.err, /bogus/);
});

test('a bad scenario file is an error naming the field', async () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'name: bad\ntraffic: { rps: 10 }\narms: { stable: { errorRate: 2, latency: { median: 100, p95: 200 } } }\n');
  await assert.rejects(run(['--scenario', file], {}), (e: unknown) => ControllerErrors.scenarioInvalid.is(e) && /arms\.stable\.errorRate/.test((e as Error).message));
  // A file that cannot be read is a usage error naming the file (exit 2), before any parsing.
  await assert.rejects(run(['--scenario', join(dir, 'missing.yaml')], {}), (e: unknown) => (e as Error).name === 'UsageError' && /missing\.yaml: no such file/.test((e as Error).message));
});
