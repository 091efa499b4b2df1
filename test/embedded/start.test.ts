/**
 * `mlgate start` as a newcomer runs it (the `npm start` command line), with the sample
 * config/mlgate.yaml: only the ports are moved to free ones (stand-in model ports in a copy of
 * the file, the others through MLGATE_CFG__ overrides) and the data goes to a temporary folder.
 * It must print where everything is, serve predictions at the printed URL, carry them through the
 * local log and the ingester into ClickHouse (redacted), answer on every printed URL, stop on
 * SIGTERM with exit code 0, and after a restart route as the last admin change decided.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { tempDir, until } from './util.ts';
import { SAMPLE, freePort, start, stop } from './spawn-start.ts';

test('mlgate start: the sample config serves predictions, stores redacted telemetry, stops cleanly and keeps its routing', async (t) => {
  const dir = tempDir(t, 'start');
  const [p1, p2] = [await freePort(), await freePort()];
  const configFile = join(dir, 'mlgate.yaml');
  writeFileSync(configFile, readFileSync(SAMPLE, 'utf8').replaceAll('9101', String(p1)).replaceAll('9102', String(p2)));
  const sample = parseYaml(readFileSync(SAMPLE, 'utf8')) as {
    gateway: { admin: { token: string } }; controller: { tokens: Array<{ token: string }> }; audit: { tokens: Array<{ token: string }> };
  };
  const dataDir = join(dir, 'data');

  const s = await start(t, configFile, dataDir);
  t.diagnostic(`mlgate start: first prediction served ${s.firstPredictionMs} ms after the command was spawned`);
  const banner = s.out();
  assert.match(banner, /mlgate is running: every service in this process \(embedded mode\), ready in \d+\.\d s/);
  assert.match(banner, /curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/models\/sentiment\/predict/);
  for (const token of [sample.gateway.admin.token, sample.controller.tokens[0]!.token, sample.audit.tokens[0]!.token]) assert.ok(!banner.includes(token), 'no token printed');

  const gateway = s.url('gateway');
  const text = 'I love this phone case! Call me at +1 415 555 0142 or mail jane.doe@example.com';
  const res = await fetch(`${gateway}/v1/models/sentiment/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-mlgate-version'), 'v1');
  const body = await res.json() as { version: string; label: string; score: number };
  assert.equal(body.label, 'positive');
  assert.ok(body.score > 0.5);

  // Gateway -> local log -> ingester -> embedded ClickHouse, read back through the audit API.
  const audit = s.url('audit API').replace(/\/v1\/requests$/, '');
  const auth = { authorization: `Bearer ${sample.audit.tokens[0]!.token}` };
  const row = await until('the event in ClickHouse', async () => {
    const page = await (await fetch(`${audit}/v1/requests?model=sentiment&from=now-1h&limit=100`, { headers: auth })).json() as { rows: Array<Record<string, unknown>> };
    // The sample config shadows 10% of requests to v2: that copy carries the same input, role shadow.
    return page.rows.find((r) => String(r.input_redacted).includes('phone case') && r.role !== 'shadow');
  }, 30_000, 250);
  assert.equal(row.version, 'v1');
  assert.equal(row.prediction_label, 'positive');
  assert.ok(!String(row.input_redacted).includes('jane.doe') && !String(row.input_redacted).includes('555 0142'), String(row.input_redacted));
  assert.deepEqual(row.redactions, { EMAIL: 1, PHONE: 1 });

  // Every printed URL answers.
  const page = await fetch(s.url('rollout page'));
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>mlgate rollouts<\/title>/);
  const controller = s.url('controller API');
  const rollouts = await fetch(controller, { headers: { authorization: `Bearer ${sample.controller.tokens[0]!.token}` } });
  assert.equal(rollouts.status, 200);
  for (const metrics of s.out().split('\n').find((l) => l.trimStart().startsWith('metrics'))!.match(/http:\/\/\S+/g)!) {
    const m = await fetch(metrics);
    assert.equal(m.status, 200, metrics);
    assert.match(await m.text(), /^# HELP /m);
  }

  // An admin change: recorded in ClickHouse before it applies, kept across a restart.
  const admin = s.url('admin API').replace(/\/admin\/routing$/, '');
  const put = await fetch(`${admin}/admin/models/sentiment/weights`, {
    method: 'PUT', headers: { authorization: `Bearer ${sample.gateway.admin.token}`, 'content-type': 'application/json', 'x-mlgate-actor': 'start-test' },
    body: JSON.stringify({ weights: { v1: 40, v2: 60 }, reason: 'try v2' }),
  });
  assert.equal(put.status, 200, await put.clone().text());
  assert.equal(await stop(s), 0);
  assert.match(s.out(), /SIGTERM: stopping/);

  const again = await start(t, configFile, dataDir);
  const adminAgain = again.url('admin API');
  const routing = await (await fetch(adminAgain.replace(/routing$/, 'routing/sentiment'), { headers: { authorization: `Bearer ${sample.gateway.admin.token}` } })).json() as { state: { versions: Array<{ name: string; weight: number }> } };
  assert.deepEqual(Object.fromEntries(routing.state.versions.map((v) => [v.name, v.weight])), { v1: 40, v2: 60 });
  const changes = await (await fetch(`${again.url('audit API').replace(/\/v1\/requests$/, '')}/v1/admin-changes?from=now-1h`, { headers: auth })).json() as { rows: Array<Record<string, unknown>> };
  // The actor is the token's name (the single admin.token is `admin`), never a client header.
  assert.ok(changes.rows.some((c) => c.actor === 'admin' && c.action === 'set_weights' && c.reason === 'try v2'), JSON.stringify(changes.rows));
  assert.ok(!changes.rows.some((c) => c.actor === 'start-test'), 'x-mlgate-actor is not taken as the actor');
  assert.equal(await stop(again), 0);
});
