// Erasure applied at ingest (distributed mode): a payload erased by its input hash while its events
// still wait in the Kafka topic does not come back when the ingester consumes them afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { needKafka, waitUntil, withTopics } from '../support/infra.ts';
import { sampleEvent } from '../support/events.ts';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { groupProgress, metric, produce, testIngesterConfig, testKafkaSource } from './support.ts';
import { erase } from '../../services/audit/erasure.ts';
import { createChainedWriter } from '../../services/ledger/chained-writer.ts';
import { startIngester } from '../../services/ingester/ingester.ts';

test('an input hash erased while its events wait in Kafka: none at or before the erasure is stored, later ones and other payloads are', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 2 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  const E = Math.floor(Date.now() / 1000) * 1000;
  const erased = 'e'.repeat(64);
  const other = '0'.repeat(64);
  const ev = (n: number, inputHash: string, from: number, to: number) => Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify(sampleEvent({
    input_hash: inputHash, consumer_id: `c${i % 7}`, ts: n === 1 ? from : Math.round(from + ((to - from) * i) / (n - 1)),
  }))));
  const before = [...ev(400, erased, E - 120_000, E - 1), ...ev(2, erased, E, E)];
  const after = ev(150, erased, E + 1, E + 30_000);
  const rest = ev(700, other, E - 120_000, E + 30_000);
  // Interleaved, so every batch holds some of each.
  const all = [...before, ...after, ...rest].map((v, i) => ({ v, k: (i * 7919) % 1252 })).sort((a, b) => a.k - b.k).map((x) => x.v);
  await produce(brokers, topics.events, all, 2);

  const r = await erase({ wh, writer: createChainedWriter(wh, { table: 'erasure_log', chainId: 'test-dpo' }), now: () => E },
    { kind: 'input_hash', value: erased }, { actor: 'dpo' });
  assert.equal(r.record.selector_hash, erased);

  const cfg = testIngesterConfig(topics, { batch: { maxRows: 300, lingerMs: 100, minBytes: 1 } });
  const registry = new Registry();
  const ingester = await startIngester({ config: cfg, warehouse: wh, source: testKafkaSource(brokers, cfg), registry });
  t.after(() => ingester.stop());
  await waitUntil('all offsets committed', async () => {
    const p = await groupProgress(brokers, cfg.groupId, topics.events);
    return p.end === all.length && p.committed === p.end;
  }, 120_000, 250);
  await ingester.stop();

  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE input_hash = {h:String} AND ts <= fromUnixTimestamp64Milli(toInt64({e:Int64}))', { h: erased, e: E }), 0);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE input_hash = {h:String}', { h: erased }), 150);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE input_hash = {h:String}', { h: other }), 700);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 850);
  assert.equal(await metric(registry, 'mlgate_ingester_erased_rows_total', { selector: 'input_hash' }), 402);
  assert.equal(await metric(registry, 'mlgate_ingester_rows_total'), 850);
});
