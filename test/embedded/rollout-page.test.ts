/**
 * The built-in rollout page, end to end: the embedded stack with real models and traffic, a
 * rollout started through the controller, the page opened in headless Chromium (Debian's
 * chromium driven by playwright-core). It must show the rollout id, its phase and weight as the
 * controller has them, and charts with data points from ClickHouse. The screenshot is kept in
 * test-artifacts/rollout-page.png. Also: the JSON endpoints and their parameter errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { DEMO_CONSUMERS, FULL, demoRollout } from '../../demo/config.ts';
import { startLoad } from '../../demo/load.ts';
import { cleanup, startTestStack, tempDir, until } from './support.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';

test('rollout page: live rollout, phase, weight and traffic charts in headless Chromium', async (t) => {
  const { rt } = await startTestStack(t, { shadow: { version: 'v3', percent: 25 } });
  const load = startLoad({ url: rt.urls.gateway, model: 'sentiment', rps: 40, apiKeys: [DEMO_CONSUMERS['web-shop']!] });
  cleanup(t, () => load.stop());
  // FULL timing: the first step (10%) lasts at least 30 s, so the rollout is mid-way while we look.
  const created = await rt.controller.rollouts.create(demoRollout('v3', FULL), 'page-test');
  assert.equal(created.id, 'sentiment-v3');
  const page = rt.urls.rolloutPage;
  assert.match(page, /^http:\/\/127\.0\.0\.1:\d+\/ui\/$/);

  // Traffic of stable and canary reaches ClickHouse through the local log and the ingester.
  const traffic = await until('both versions in the traffic endpoint', async () => {
    const body = await (await fetch(`${page}api/traffic?model=sentiment&bucket=10s&minutes=5`)).json() as { series: Array<{ version: string; shadow: boolean; points: unknown[] }> };
    const primary = body.series.filter((s) => !s.shadow).map((s) => s.version);
    return primary.includes('v1') && primary.includes('v3') && body.series.some((s) => s.shadow) ? body : undefined;
  }, 60_000, 500);
  assert.ok(traffic.series.every((s) => s.points.length > 0));

  // Parameter errors name the parameter.
  const bad = await fetch(`${page}api/traffic?bucket=5s`);
  assert.equal(bad.status, 400);
  const err = await bad.json() as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'MLG_CORE_BAD_ARGUMENT');
  assert.match(err.error.message, /bucket/);
  const badId = await fetch(`${page}api/decisions?rollout=${encodeURIComponent('x; DROP TABLE')}`);
  assert.equal(badId.status, 400);
  const decisions = await (await fetch(`${page}api/decisions?rollout=sentiment-v3`)).json() as { total: number; rows: Array<{ action: string; actor: string }> };
  assert.ok(decisions.rows.some((d) => d.action === 'start' && d.actor === 'page-test'), JSON.stringify(decisions.rows));

  const profile = tempDir(t, 'chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  cleanup(t, () => context.close());
  const tab = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  tab.on('pageerror', (e) => errors.push(e.message));
  const requests: string[] = [];
  tab.on('request', (r) => requests.push(r.url()));
  await tab.goto(page, { waitUntil: 'load' });
  const card = tab.locator('section.rollout[data-rollout="sentiment-v3"]');
  await card.waitFor({ state: 'visible', timeout: 30_000 });
  // Charts with points for both versions (each poll redraws; wait for a frame that has them).
  // Wait for three 10 s buckets of stable traffic, so the lines have a shape.
  await until('chart lines for v1 (3 buckets) and v3', async () => {
    const v1 = await tab.locator('svg.chart[data-title="requests/s"] polyline[data-version="v1"]').first().getAttribute('points', { timeout: 1000 });
    return (v1?.split(' ').length ?? 0) >= 3 && (await tab.locator('svg.chart polyline[data-version="v3"]').count()) > 0;
  }, 60_000, 500);

  const view = await rt.controller.rollouts.get('sentiment-v3');
  assert.equal(view.phase, 'progressing');
  assert.equal(await card.locator('.rollout-id').textContent(), 'sentiment-v3');
  assert.equal(await card.getAttribute('data-phase'), view.phase);
  assert.equal((await card.locator('.badge.phase').textContent())?.trim(), view.phase);
  assert.equal(await card.locator('.weight').textContent(), `${view.weight}%`);
  assert.equal(view.weight, 10);
  // The next evaluation is the next tick (seconds away), not the step's timeout, which is labelled apart.
  assert.match((await card.locator('.next-tick').textContent()) ?? '', /^(now|\d+ s)$/);
  assert.match((await card.locator('.deadline').textContent()) ?? '', /^step times out in \d+ m \d\d s$/);
  const metricRows = await card.locator('table.metrics tr').count();
  assert.equal(metricRows, 1 + view.spec.metrics.length);
  const points = await tab.locator('svg.chart circle.pt').count();
  assert.ok(points >= 3, `expected chart points, got ${points}`);
  assert.deepEqual(errors, []);
  // Self-contained: nothing but the page's own origin was requested.
  const origin = new URL(page).origin;
  assert.ok(requests.every((u) => u.startsWith(origin)), requests.filter((u) => !u.startsWith(origin)).join(', '));

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'rollout-page.png');
  await tab.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}; ${points} chart points; rollout ${view.id} ${view.phase} at ${view.weight}%`);
});
