/**
 * The short soak (`npm run soak` with 150 s and a fixed seed): two gateways, two ingesters, two
 * controllers, the models, a private broker and the warehouse host as separate processes, with
 * every kind of fault injected once while traffic flows and rollouts run. The report must show
 * every answered request stored once (a SIGKILLed gateway may lose only what it answered in the
 * documented crash window), verified decision chains, no decision from a superseded leadership,
 * and every rollout promoted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needKafka } from '../support/infra.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

interface Report {
  pass: boolean;
  problems: string[];
  requests: { answered: number; successRate: number };
  gateways: Array<{ gateway: string; answered: number; missing: number; missingInCrashWindow: number; missingOutside: number }>;
  duplicates: number;
  rows: number;
  crashWindow: { gatewayKills: number; lost: number };
  decisions: { chainsOk: boolean; forks: number; staleEpoch: number; generationRegressions: number };
  rollouts: Array<{ id: string; phase: string }>;
  faultsByKind: Record<string, number>;
}

test('soak: six kinds of fault under load, exact counts, fenced decisions, rollouts promoted', { timeout: 20 * 60_000 }, async (t) => {
  if (!(await needKafka(t))) return; // the soak starts its own broker, but from the jars scripts/kafka.sh fetched
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-soak-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'soak.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak/soak.ts'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SOAK_SECONDS: '150', SOAK_SEED: '11', SOAK_FAULT_GAP_S: '15', SOAK_OUT: out },
  });
  let log = '';
  child.stdout.on('data', (b: Buffer) => { log += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { log += b.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  assert.equal(code, 0, `soak failed:\n${log.slice(-4000)}`);
  assert.equal(report.pass, true, report.problems.join('; '));
  for (const kind of ['gateway', 'ingester', 'controller', 'broker', 'warehouse', 'leadership']) {
    assert.ok((report.faultsByKind[kind] ?? 0) >= 1, `no ${kind} fault was injected: ${JSON.stringify(report.faultsByKind)}`);
  }
  assert.ok(report.requests.answered > 2000, `only ${report.requests.answered} requests answered`);
  for (const g of report.gateways) assert.equal(g.missingOutside, 0, `${g.gateway}: ${g.missingOutside} answered request(s) lost outside a crash window`);
  assert.equal(report.duplicates, 0);
  assert.equal(report.decisions.chainsOk, true);
  assert.equal(report.decisions.forks, 0);
  assert.equal(report.decisions.staleEpoch, 0);
  assert.equal(report.decisions.generationRegressions, 0);
  assert.ok(report.rollouts.length >= 1 && report.rollouts.every((r) => r.phase === 'promoted'), JSON.stringify(report.rollouts));
});
