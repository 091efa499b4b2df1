/**
 * Every service's `/metrics` passes `promtool check metrics` (names, suffixes, help and types as
 * Prometheus expects): the gateway's admin port, the ingester, the controller, all started by
 * the embedded stack (the same code the standalone services run), after traffic went through so
 * labelled series exist. Fails naming the service and promtool's complaint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startTestStack } from '../embedded/support.ts';

/** promtool's verdict on one exposition: '' when it passes. */
function promtool(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}`.trim();
}

test('metrics: every service passes promtool check metrics', async (t) => {
  assert.ok(spawnSync('promtool', ['--version']).status === 0, 'promtool must be installed');
  const { rt } = await startTestStack(t);
  const u = rt.urls;
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${u.gateway}/v1/models/sentiment/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'fine' }) });
    await res.arrayBuffer();
  }
  await (await fetch(`${u.gateway}/v1/models/nope/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).arrayBuffer();
  const services = { gateway: u.gatewayMetrics, ingester: u.ingesterMetrics, controller: u.controllerMetrics };
  const problems: string[] = [];
  for (const [name, url] of Object.entries(services)) {
    assert.ok(url, `${name} has a metrics URL`);
    const res = await fetch(url);
    assert.equal(res.status, 200, `${name} /metrics`);
    const text = await res.text();
    assert.match(text, /# TYPE /, `${name} exposes metrics`);
    const verdict = promtool(text);
    if (verdict) problems.push(`${name}: ${verdict}`);
  }
  assert.deepEqual(problems, []);
});

test('metrics: the promtool check catches a gauge named *_total', () => {
  assert.match(promtool('# HELP x_total a gauge\n# TYPE x_total gauge\nx_total 1\n'), /non-counter metrics should not have "_total" suffix/);
});
