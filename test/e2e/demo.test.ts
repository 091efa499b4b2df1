/**
 * The demo scenario end to end, shortened (`mlgate demo --fast`): three real model versions, a
 * steady load of review and chat texts, the v2 rollout (a VADER build with injected errors and
 * latency) must end rolled back and the v3 rollout (healthy VADER) promoted. Checked three ways:
 * the controller's state and the gateway's routing, the `canary_decisions` rows in ClickHouse,
 * and `mlgate audit` run as a separate process on the demo's data once the demo has stopped.
 * Also: the telemetry of the run is in ClickHouse, with consumers, shadow copies and no raw PII.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { runDemo } from '../../demo/run.ts';
import { cleanup, tempDir } from '../embedded/util.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

interface Row { rollout_id: string; action: string; weight_before: number; weight_after: number; actor: string; reason: string; evidence: string }

async function audit(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'audit', ...args], { cwd: ROOT, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('demo --fast: v2 rolled back, v3 promoted; decisions in ClickHouse and through mlgate audit', async (t) => {
  const base = tempDir(t, 'demo');
  const out = new Capture();
  const result = await runDemo({ fast: true, dataDir: base, anyPorts: true, out, tty: false, env: {}, stay: true });
  cleanup(t, () => result.stop());
  t.diagnostic(`demo took ${Math.round(result.durationS)} s, ${result.load.sent} requests, answers ${JSON.stringify(result.load.byStatus)}`);
  assert.equal(result.ok, true, out.text);

  // The controller's state.
  const rt = result.running;
  const v2 = await rt.controller.rollouts.get('sentiment-v2');
  const v3 = await rt.controller.rollouts.get('sentiment-v3');
  assert.deepEqual([v2.phase, v2.weight, v2.canaryState], ['rolled_back', 0, 'tripped']);
  assert.deepEqual([v3.phase, v3.weight, v3.canaryState], ['promoted', 100, 'active']);
  // The gateway routes as the controller decided.
  const routing = rt.gateway.routing.get('sentiment')!;
  const byName = Object.fromEntries(routing.versions.map((v) => [v.name, v]));
  assert.equal(byName.v3!.weight, 100);
  assert.equal(byName.v2!.state, 'tripped');
  assert.equal(routing.rollout_id, 'sentiment-v3');

  // The decisions as ClickHouse holds them.
  const rows = await rt.warehouse.query<Row>(`SELECT rollout_id, action, weight_before, weight_after, actor, reason, evidence FROM {db}.canary_decisions
    WHERE rollout_id IN ('sentiment-v2', 'sentiment-v3') AND action != 'wait' ORDER BY ts, decision_id`);
  const actions = (id: string) => rows.filter((r) => r.rollout_id === id).map((r) => `${r.action} ${r.weight_before}->${r.weight_after}`);
  assert.deepEqual(actions('sentiment-v2'), ['manual_start 0->20', 'rollback 20->0']);
  assert.deepEqual(actions('sentiment-v3'), ['manual_start 0->20', 'promote 20->50', 'promote 50->100']);
  const rollback = rows.find((r) => r.action === 'rollback')!;
  assert.equal(rollback.actor, 'controller');
  const evidence = JSON.parse(rollback.evidence) as { verdicts: Array<{ name: string; status: string; critical: boolean }> };
  const regressed = evidence.verdicts.filter((v) => v.status === 'regressed' && v.critical).map((v) => v.name);
  assert.ok(regressed.length > 0 && regressed.every((n) => n === 'error_rate' || n === 'latency:p95'), JSON.stringify(evidence.verdicts));
  assert.match(rollback.reason, /error_rate|latency:p95/);

  // The telemetry of the run: every version served, consumers named, shadow copies paired, no raw PII.
  const [tele] = await rt.warehouse.query<Record<string, number>>(`SELECT count() AS n, uniqExact(version) AS versions,
    countIf(role = 'shadow' AND correlation_id != '') AS shadows, uniqExactIf(consumer_id, consumer_id != '') AS consumers,
    countIf(position(input_redacted, '@example.com') > 0 OR position(input_redacted, '555 01') > 0 OR position(input_redacted, '555-01') > 0) AS raw_pii,
    countIf(mapContains(redactions, 'EMAIL') OR mapContains(redactions, 'PHONE')) AS redacted,
    countIf(version = 'v2' AND outcome = 'upstream_error') AS v2_errors
    FROM {db}.requests WHERE model = 'sentiment'`);
  assert.ok(tele!.n > 1000, JSON.stringify(tele));
  assert.equal(Number(tele!.versions), 3);
  assert.ok(Number(tele!.shadows) > 50);
  assert.equal(Number(tele!.consumers), 3);
  assert.equal(Number(tele!.raw_pii), 0);
  assert.ok(Number(tele!.redacted) > 0);
  assert.ok(Number(tele!.v2_errors) > 0);

  // The plain view printed each decision as it happened.
  assert.match(out.text, /sentiment-v2: rollback 20% -> 0% \(rolled_back\)/);
  assert.match(out.text, /sentiment-v3: complete 50% -> 100% \(promoted\)/);
  // The start is in the view too, though the first tick's wait replaces it as the latest decision at once.
  for (const id of ['sentiment-v2', 'sentiment-v3']) assert.match(out.text, new RegExp(`${id}: (start 0% -> 20%|start@20% \\(recorded\\))`));

  // Once the demo has stopped, the audit CLI (its own process) reads the same data path.
  await result.stop();
  const v2Audit = await audit(['rollout', 'sentiment-v2', '--config', result.configFile, '--format', 'jsonl', '--limit', '1000']);
  assert.equal(v2Audit.code, 0, v2Audit.stderr);
  const v2Rows = v2Audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as Row);
  assert.ok(v2Rows.some((r) => r.action === 'rollback' && Number(r.weight_after) === 0));
  const v3Audit = await audit(['rollout', 'sentiment-v3', '--config', result.configFile, '--format', 'jsonl', '--limit', '1000']);
  assert.equal(v3Audit.code, 0, v3Audit.stderr);
  const v3Rows = v3Audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as Row);
  // The audit names actions as the controller does (the row above stores 'promote' 50->100).
  assert.ok(v3Rows.some((r) => r.action === 'complete' && Number(r.weight_after) === 100));
  assert.deepEqual(v3Rows.filter((r) => r.action !== 'wait').map((r) => r.action), ['start', 'promote', 'complete']);
  assert.ok(!v3Rows.some((r) => r.action === 'rollback'));
  const verify = await audit(['verify', '--config', result.configFile]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /OK: every chain verifies/);
});
