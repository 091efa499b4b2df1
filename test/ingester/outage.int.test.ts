// ClickHouse unavailable for 15 s while events keep arriving: the ingester pauses, retries with
// backoff, shows the backlog as lag, and resumes when the server is back, with totals matching.
// The server is a private ClickHouse process this test stops and starts (Debian's 18.16, so the
// target is the reduced table and ingestion is at-least-once by design there; nothing may be lost).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needKafka, privateClickHouse, waitUntil, withTopics } from '../support/infra.ts';
import { REDUCED_REQUESTS_DDL, count, serverWarehouse } from '../warehouse/support.ts';
import { eventValues, groupProgress, metric, produce, runIngester, testIngesterConfig, testKafkaSource } from './support.ts';

const OUTAGE_MS = 15_000;

test('ClickHouse down for 15 s, then back: consumption pauses, lag shows, ingestion resumes and totals match', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const ch = await privateClickHouse(t, 28123);
  const topics = await withTopics(t, brokers, { events: { partitions: 2 }, dlq: {} });
  const wh = await serverWarehouse(t, ch.address, { requestTimeoutMs: 3000 });
  await wh.command(REDUCED_REQUESTS_DDL);
  const cfg = testIngesterConfig(topics, { rowFormat: 'JSONEachRow', skipUnknownFields: true, batch: { maxRows: 2000, lingerMs: 200, minBytes: 1 }, retry: { initialMs: 200, maxMs: 2000 } });
  const { ingester, registry } = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));

  const values = eventValues(30_000);
  await produce(brokers, topics.events, values.slice(0, 10_000), 2);
  await waitUntil('the first 10,000 rows', async () => (await count(wh, 'SELECT count() FROM {db}.requests')) === 10_000, 60_000, 200);

  await ch.stop();
  const down = Date.now();
  await produce(brokers, topics.events, values.slice(10_000, 20_000), 2);
  await waitUntil('consumption paused', async () => (await metric(registry, 'mlgate_ingester_paused')) === 1 && ingester.stats().paused, 30_000, 100);
  await waitUntil('the backlog visible as lag', async () => (await metric(registry, 'mlgate_ingester_consumer_lag')) >= 10_000, 30_000, 200);
  // Keep the server down for the whole outage while retries go on.
  await waitUntil(`${OUTAGE_MS / 1000} s of outage`, () => Date.now() - down >= OUTAGE_MS, OUTAGE_MS + 5000, 250);
  const retries = await metric(registry, 'mlgate_ingester_retries_total');
  assert.ok(retries >= 3, `retries during the outage: ${retries}`);
  assert.ok(await metric(registry, 'mlgate_ingester_insert_failures_total', { code: 'MLG_WH_UNAVAILABLE' }) >= 1);
  assert.equal((await groupProgress(brokers, cfg.groupId, topics.events)).committed, 10_000, 'nothing committed while ClickHouse was down');

  await ch.start();
  await produce(brokers, topics.events, values.slice(20_000), 2);
  await waitUntil('every offset committed', async () => (await groupProgress(brokers, cfg.groupId, topics.events)).committed === 30_000, 90_000, 250);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 30_000);
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 30_000);
  assert.equal(await metric(registry, 'mlgate_ingester_paused'), 0);
  assert.equal(ingester.stats().paused, false);
  await waitUntil('lag back to zero', async () => (await metric(registry, 'mlgate_ingester_consumer_lag')) === 0, 10_000, 200);
});
