/**
 * No PII outside the body, on the embedded stack (gateway, local log, ingester, chdb, rollout
 * page in one process): a client-chosen model name (an email) reaches ClickHouse only as
 * `unknown`, the raw path never, and neither that nor a legacy row holding the email becomes a
 * series (a card) of the rollout page; the chdb data folder and the local log are private (0700
 * folders, 0600 log files), a looser data folder left from before is tightened at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../services/core/log.ts';
import { DEMO_CONSUMERS, DEMO_MODEL, DEMO_VERSIONS, demoConfig } from '../../demo/config.ts';
import { startModelServer, type ModelServer } from '../../services/embedded/stand-in/model-server.ts';
import { parseEmbeddedConfig } from '../../services/embedded/config.ts';
import { startEmbedded } from '../../services/embedded/embedded.ts';
import { toRequestRow } from '../../services/warehouse/request-rows.ts';
import { sampleEvent } from '../support/events.ts';
import { cleanup, tempDir, until } from '../embedded/util.ts';

const EMAIL = 'ann@example.com';
const modeOf = (p: string): number => statSync(p).mode & 0o777;

test('embedded: no client-chosen name reaches ClickHouse or the rollout page, and the data folders are private', async (t) => {
  const dataDir = tempDir(t, 'pii-embedded');
  const chdbDir = join(dataDir, 'clickhouse');
  mkdirSync(chdbDir, { mode: 0o755 });
  chmodSync(chdbDir, 0o755); // as an older version left it
  const models: ModelServer[] = [];
  for (const v of DEMO_VERSIONS) {
    const { description: _d, ...server } = v;
    models.push(await startModelServer(server));
  }
  cleanup(t, () => Promise.all(models.map((m) => m.close())));
  const cfg = parseEmbeddedConfig(demoConfig({ dataDir, models: Object.fromEntries(models.map((m) => [m.name, m.url])), anyPorts: true }));
  const rt = await startEmbedded(cfg, { logger: silentLogger() });
  cleanup(t, () => rt.stop());

  const headers = { 'x-api-key': DEMO_CONSUMERS['web-shop']!, 'content-type': 'application/json' };
  const post = async (path: string, body: unknown) => (await fetch(`${rt.urls.gateway}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })).status;
  assert.equal(await post('/v1/chat/completions', { model: EMAIL, messages: [] }), 404);
  assert.equal(await post(`/v1/models/${EMAIL}/predict`, { text: 'hi' }), 404);
  assert.equal(await post(`/v1/models/${DEMO_MODEL}/predict`, { text: `great, mail me at ${EMAIL}` }), 200);
  // A row an older gateway stored with the client's name, before names were checked.
  await rt.warehouse.insert('requests', [toRequestRow(sampleEvent({ model: EMAIL, ts: Date.now() }), { topic: 'legacy', partition: 0, offset: 0 })]);

  const count = async (where: string) => Number((await rt.warehouse.query<{ n: number }>(`SELECT count() AS n FROM {db}.requests WHERE ${where}`))[0]?.n ?? 0);
  await until('the three requests in ClickHouse', async () => (await count(`model != '${EMAIL}'`)) >= 3, 60_000, 250);
  assert.equal(await count(`model = 'unknown'`), 2);
  assert.equal(await count(`gateway_id != 'gw-1' AND (position(route, '@') > 0 OR position(model, '@') > 0)`), 0, 'no email outside the body');

  const page = rt.urls.rolloutPage;
  const traffic = await until('traffic of the configured model on the page', async () => {
    const body = await (await fetch(`${page}api/traffic?bucket=10s&minutes=5`)).json() as { series: Array<{ model: string }> };
    return body.series.some((s) => s.model === DEMO_MODEL) ? body : undefined;
  }, 30_000, 250);
  assert.deepEqual([...new Set(traffic.series.map((s) => s.model))], [DEMO_MODEL], 'only configured models (or rollouts\') get a card');

  assert.equal(modeOf(chdbDir), 0o700, 'the chdb data folder is 0700 (tightened)');
  const logDir = join(dataDir, 'telemetry-log');
  assert.equal(modeOf(logDir), 0o700);
  for (const f of readdirSync(logDir)) assert.equal(modeOf(join(logDir, f)), 0o600, `${f} is 0600`);
});
