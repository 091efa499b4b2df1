// The Prometheus alerting rules: promtool accepts them, their unit tests pass, every alert is
// tested both firing and quiet, the tests are able to fail (mutated rules make them fail), and
// every alert carries a severity, a summary, a description and a runbook that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ROOT, loadDashboards, loadRules, needTool, repoFiles, run } from './support.ts';

const RULE_FILES = repoFiles('alerts', /\.rules\.yml$/);
const TEST_FILES = repoFiles('alerts/tests', /\.test\.yml$/);
const SEVERITIES = new Set(['page', 'critical', 'ticket', 'warning']);

interface PromtoolTestFile {
  rule_files: string[];
  tests: Array<{ name?: string; alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: unknown[] }> }>;
}

function loadTests(): Array<{ file: string; doc: PromtoolTestFile }> {
  return TEST_FILES.map((file) => ({ file, doc: parseYaml(readFileSync(join(ROOT, file), 'utf8')) as PromtoolTestFile }));
}

test('promtool check rules accepts every rule file', async (t) => {
  const promtool = needTool(t, 'promtool', 'prometheus');
  if (!promtool) return;
  assert.ok(RULE_FILES.length >= 4, `rule files: ${RULE_FILES.join(', ')}`);
  const r = await run(promtool, ['check', 'rules', ...RULE_FILES]);
  assert.equal(r.code, 0, `promtool check rules failed:\n${r.stdout}\n${r.stderr}`);
  const found = [...r.stdout.matchAll(/SUCCESS: (\d+) rules found/g)].map((m) => Number(m[1]));
  assert.equal(found.length, RULE_FILES.length, r.stdout);
  assert.equal(found.reduce((a, b) => a + b, 0), loadRules().length);
});

test('promtool test rules passes every unit test file', async (t) => {
  const promtool = needTool(t, 'promtool', 'prometheus');
  if (!promtool) return;
  const r = await run(promtool, ['test', 'rules', ...TEST_FILES.map((f) => f.replace('alerts/tests/', ''))], { cwd: join(ROOT, 'alerts/tests') });
  assert.equal(r.code, 0, `promtool test rules failed:\n${r.stdout}\n${r.stderr}`);
  assert.equal((r.stdout.match(/SUCCESS/g) ?? []).length, TEST_FILES.length, r.stdout);
});

test('every alert has a unit test where it fires and one where it stays quiet; every rule file is tested', () => {
  const alerts = loadRules().filter((r) => r.alert).map((r) => r.alert!);
  const fires = new Set<string>();
  const quiet = new Set<string>();
  const covered = new Set<string>();
  for (const { file, doc } of loadTests()) {
    for (const rf of doc.rule_files) covered.add(join('alerts/tests', rf).replace(/^alerts\/tests\/\.\.\//, 'alerts/'));
    for (const tc of doc.tests) {
      for (const a of tc.alert_rule_test ?? []) {
        assert.ok(alerts.includes(a.alertname), `${file} (${tc.name}) tests unknown alert ${a.alertname}`);
        ((a.exp_alerts ?? []).length > 0 ? fires : quiet).add(a.alertname);
      }
    }
  }
  for (const a of alerts) {
    assert.ok(fires.has(a), `alert ${a} has no test case in which it fires`);
    assert.ok(quiet.has(a), `alert ${a} has no test case in which it stays quiet`);
  }
  for (const f of RULE_FILES) assert.ok(covered.has(f), `${f} is not loaded by any file in alerts/tests`);
});

test('every alert names a severity, a summary, a description, an existing runbook and an existing dashboard', () => {
  const uids = new Set(loadDashboards().map((d) => d.json.uid));
  const alerts = loadRules().filter((r) => r.alert);
  assert.ok(alerts.length >= 15, `only ${alerts.length} alerts`);
  const names = new Set<string>();
  for (const a of alerts) {
    assert.ok(!names.has(a.alert!), `alert ${a.alert} is defined twice`);
    names.add(a.alert!);
    assert.match(a.alert!, /^Mlgate[A-Z][A-Za-z]+$/, `alert name ${a.alert}`);
    assert.ok(SEVERITIES.has(a.labels?.severity ?? ''), `${a.alert}: severity ${a.labels?.severity} is not one of ${[...SEVERITIES].join(', ')}`);
    for (const k of ['summary', 'description', 'runbook_url', 'dashboard']) assert.ok(a.annotations?.[k], `${a.alert} has no ${k} annotation`);
    const runbook = a.annotations!.runbook_url!;
    assert.match(runbook, /^docs\/runbooks\/[a-z0-9-]+\.md$/, `${a.alert}: runbook_url ${runbook}`);
    assert.ok(existsSync(join(ROOT, runbook)), `${a.alert}: runbook ${runbook} does not exist`);
    assert.ok(readFileSync(join(ROOT, runbook), 'utf8').includes(a.alert!), `${runbook} does not mention ${a.alert}`);
    assert.ok(uids.has(a.annotations!.dashboard!), `${a.alert}: dashboard ${a.annotations!.dashboard} is not a dashboard uid in dashboards/`);
  }
  const index = readFileSync(join(ROOT, 'docs/runbooks/README.md'), 'utf8');
  for (const n of names) assert.ok(index.includes(n.replace(/(Fast|Slow)$/, '')), `docs/runbooks/README.md does not list ${n}`);
});

/** Copies alerts/ to a temporary folder with each alert's expr replaced, runs its tests, returns the output. */
async function mutatedRun(promtool: string, expr: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-alerts-'));
  try {
    cpSync(join(ROOT, 'alerts'), join(dir, 'alerts'), { recursive: true });
    for (const file of RULE_FILES) {
      const doc = parseYaml(readFileSync(join(ROOT, file), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> };
      for (const g of doc.groups) for (const r of g.rules) if (r.alert) r.expr = expr;
      writeFileSync(join(dir, file), stringifyYaml(doc));
    }
    const r = await run(promtool, ['test', 'rules', ...TEST_FILES.map((f) => f.replace('alerts/tests/', ''))], { cwd: join(dir, 'alerts/tests') });
    assert.notEqual(r.code, 0, `promtool test rules passed with every alert's expr replaced by ${expr}`);
    return r.stdout + r.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the unit tests can fail: alerts that never fire fail every firing case, alerts that always fire fail every quiet case', async (t) => {
  const promtool = needTool(t, 'promtool', 'prometheus');
  if (!promtool) return;
  const alerts = loadRules().filter((r) => r.alert).map((r) => r.alert!);
  const failedAlerts = (out: string) => new Set([...out.matchAll(/alertname: (\w+), time:/g)].map((m) => m[1]!));
  const never = failedAlerts(await mutatedRun(promtool, 'vector(1) > 2'));
  const always = failedAlerts(await mutatedRun(promtool, 'vector(1)'));
  for (const a of alerts) {
    assert.ok(never.has(a), `no test of ${a} failed when ${a} could never fire`);
    assert.ok(always.has(a), `no test of ${a} failed when ${a} fired all the time`);
  }
});
