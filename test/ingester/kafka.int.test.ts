// The ingester from real Kafka into the embedded ClickHouse, in this process: exact totals,
// dead letters, and a crash between insert and commit replayed without duplicates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needKafka, testKafka, waitUntil, withTopics } from '../support/infra.ts';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { eventValues, groupProgress, metric, produce, runIngester, testIngesterConfig, testKafkaSource } from './support.ts';
import { sampleEvent } from '../support/events.ts';
import type { Source } from '../../services/ingester/source.ts';

/** Wraps a source so that from commit number `at` on, commits fail and the "process" handles nothing. */
function crashingSource(inner: Source, at: number): { source: Source; crashed: () => boolean } {
  let commits = 0;
  let dead = false;
  const source: Source = {
    kind: inner.kind,
    start: (handler, onReassign, onFatal) => inner.start(async (batch, ctl) => {
      if (dead) throw new Error('this ingester is dead');
      await handler(batch, ctl);
    }, onReassign, onFatal),
    commit: async (s, p, next) => {
      if (++commits >= at) dead = true;
      if (dead) throw new Error('simulated crash after insert');
      await inner.commit(s, p, next);
    },
    deadLetter: (items) => inner.deadLetter(items),
    pause: () => inner.pause(),
    resume: () => inner.resume(),
    lag: () => inner.lag(),
    stop: () => inner.stop(),
  };
  return { source, crashed: () => dead };
}

test('100,000 events produced give exactly 100,000 rows, aggregates included, and the group commits to the end', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 3 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  await produce(brokers, topics.events, eventValues(100_000), 3);
  const cfg = testIngesterConfig(topics, { batch: { maxRows: 20_000, lingerMs: 200, minBytes: 1 } });
  const { ingester, registry } = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await waitUntil('all offsets committed', async () => {
    const p = await groupProgress(brokers, cfg.groupId, topics.events);
    return p.end === 100_000 && p.committed === p.end;
  }, 120_000, 250);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 100_000);
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 100_000);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 100_000);
  assert.equal(await count(wh, "SELECT countIf(outcome = 'timeout') FROM {db}.requests"), Math.ceil(100_000 / 97));
  assert.equal(await count(wh, 'SELECT uniqExact(src_partition, src_offset) FROM {db}.requests'), 100_000);
  assert.equal(await metric(registry, 'mlgate_ingester_rows_total'), 100_000);
  assert.equal(await metric(registry, 'mlgate_ingester_dlq_total'), 0);
  await waitUntil('lag metric at zero', async () => (await metric(registry, 'mlgate_ingester_consumer_lag')) === 0, 10_000);
  assert.equal(ingester.stats().rows, 100_000);
  await ingester.stop();
  const admin = testKafka(brokers).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const { groups } = await admin.describeGroups([cfg.groupId]);
  assert.equal(groups[0]?.state, 'Empty', 'the ingester left the group on stop');
});

test('malformed messages go to the dead-letter topic with their reason and source position; every valid one is stored', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 2 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  const valid = eventValues(3000);
  const bad: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    const kind = i % 5;
    if (kind === 0) bad.push(Buffer.from(`{"event_id": broken ${i}`));
    else if (kind === 1) bad.push(Buffer.from(JSON.stringify(sampleEvent({ latency_ms: -1 }))));
    else if (kind === 2) bad.push(Buffer.from(JSON.stringify({ ...sampleEvent(), event_id: 'not-a-uuid' })));
    else if (kind === 3) bad.push(Buffer.from(JSON.stringify({ ...sampleEvent(), outcome: 'exploded' })));
    else bad.push(Buffer.from('[1,2,3]'));
  }
  const mixed: Buffer[] = [];
  for (let i = 0, b = 0; i < valid.length; i++) {
    mixed.push(valid[i]!);
    if (i % 60 === 7 && b < bad.length) mixed.push(bad[b++]!);
  }
  assert.equal(mixed.length, 3050);
  await produce(brokers, topics.events, mixed, 2);
  const cfg = testIngesterConfig(topics);
  const { registry } = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await waitUntil('all offsets committed', async () => {
    const p = await groupProgress(brokers, cfg.groupId, topics.events);
    return p.end === 3050 && p.committed === p.end;
  }, 60_000, 250);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 3000);

  const consumer = testKafka(brokers).consumer({ groupId: `read-${topics.dlq}` });
  await consumer.connect();
  t.after(() => consumer.disconnect());
  await consumer.subscribe({ topic: topics.dlq, fromBeginning: true });
  const dead: Array<{ value: string; headers: Record<string, string> }> = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      dead.push({ value: message.value?.toString() ?? '', headers });
    },
  });
  await waitUntil('50 dead letters', () => dead.length >= 50, 30_000);
  const positions = new Set(dead.map((d) => `${d.headers['mlgate-source-partition']}:${d.headers['mlgate-source-offset']}`));
  assert.equal(positions.size, 50, 'each malformed message once, with its partition and offset');
  assert.deepEqual(new Set(dead.map((d) => d.value)), new Set(bad.map((b) => b.toString())), 'original bytes kept');
  const reasons = dead.map((d) => d.headers['mlgate-dlq-reason']);
  assert.equal(reasons.filter((r) => r === 'invalid_json').length, 10);
  assert.equal(reasons.filter((r) => r === 'schema_invalid').length, 40);
  assert.ok(dead.every((d) => d.headers['mlgate-source-topic'] === topics.events));
  const details = dead.map((d) => d.headers['mlgate-dlq-detail'] ?? '');
  assert.ok(details.some((d) => /latency_ms/.test(d)), 'the failing field is named');
  assert.ok(details.some((d) => /event_id/.test(d)));
  assert.equal(await metric(registry, 'mlgate_ingester_dlq_total', { reason: 'schema_invalid' }), 40);
});

test('a crash between insert and commit is replayed from the ledger without duplicates, here and in requests_1m', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 1 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  await produce(brokers, topics.events, eventValues(10_000));
  const cfg = testIngesterConfig(topics, { batch: { maxRows: 1000, lingerMs: 200, minBytes: 1 } });
  // First ingester: its third commit fails after the rows are in ClickHouse, and it handles nothing after that.
  const crash = crashingSource(testKafkaSource(brokers, cfg), 3);
  const a = await runIngester(t, wh, cfg, crash.source);
  await waitUntil('the failed commit', () => crash.crashed(), 30_000);
  await a.ingester.stop();
  const stored = await count(wh, 'SELECT count() FROM {db}.requests');
  const { committed } = await groupProgress(brokers, cfg.groupId, topics.events);
  assert.ok(stored > committed, `rows beyond the committed offset must exist for the test to mean anything (${stored} vs ${committed})`);
  // Second ingester, same group: it must rebuild the uncommitted batches identically.
  const b = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await waitUntil('all offsets committed', async () => {
    const p = await groupProgress(brokers, cfg.groupId, topics.events);
    return p.committed === 10_000;
  }, 60_000, 250);
  assert.ok(await metric(b.registry, 'mlgate_ingester_replayed_batches_total') >= 1, 'the second ingester replayed ledger batches');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 10_000);
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 10_000);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 10_000);
});

test('two ingesters in one group share the partitions; one leaving mid-stream (rebalance) loses and duplicates nothing', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 4 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  const cfg = testIngesterConfig(topics, { batch: { maxRows: 1000, lingerMs: 100, minBytes: 1 }, sessionTimeoutMs: 6000 });
  const a = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  const b = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  const producing = produce(brokers, topics.events, eventValues(40_000), 4, 500, 20);
  await waitUntil('both ingesters working', () => a.ingester.stats().batches > 0 && b.ingester.stats().batches > 0, 60_000, 100);
  await a.ingester.stop(); // graceful: leaves the group, b takes over its partitions
  await producing;
  await waitUntil('all offsets committed', async () => (await groupProgress(brokers, cfg.groupId, topics.events)).committed === 40_000, 90_000, 250);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 40_000);
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), 40_000);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 40_000);
  assert.ok(b.ingester.stats().rows > 0 && a.ingester.stats().rows > 0);
});

test('batches rebuilt from the ledger after failed commits are counted once in mlgate_ingester_rows_total', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 1 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  await produce(brokers, topics.events, eventValues(10_000));
  // Small fetches (about 60 events each), so that batches are still being fetched when commits fail.
  const cfg = testIngesterConfig(topics, { batch: { maxRows: 500, maxBytes: 64 * 1024, lingerMs: 200, minBytes: 1 } });
  // Commits 3 and 4 fail after their inserts (a broker restarting), then one batch fails: the
  // source redelivers from the last commit and the ingester rebuilds the stored batches.
  const inner = testKafkaSource(brokers, cfg);
  let commits = 0;
  let failNext = false;
  let redelivered = false;
  const source: Source = {
    kind: inner.kind,
    start: (handler, onReassign, onFatal) => inner.start(async (batch, ctl) => {
      if (failNext && !redelivered) {
        // As after a consumer crash and restart (kafkajs CRASH with restart): state forgotten, redelivery from the last commit.
        redelivered = true;
        onReassign();
        throw new Error('simulated failure: redeliver from the last commit');
      }
      await handler(batch, ctl);
    }, onReassign, onFatal),
    commit: async (s, p, next) => {
      commits++;
      if (commits === 3 || commits === 4) {
        failNext = true;
        throw new Error('simulated commit failure');
      }
      await inner.commit(s, p, next);
    },
    deadLetter: (items) => inner.deadLetter(items),
    pause: () => inner.pause(),
    resume: () => inner.resume(),
    lag: () => inner.lag(),
    stop: () => inner.stop(),
  };
  const { ingester, registry } = await runIngester(t, wh, cfg, source);
  await waitUntil('all offsets committed', async () => (await groupProgress(brokers, cfg.groupId, topics.events)).committed === 10_000, 60_000, 250);
  await waitUntil('the writer idle', () => ingester.stats().rows >= 10_000, 30_000);
  assert.ok(redelivered);
  assert.ok(await metric(registry, 'mlgate_ingester_replayed_batches_total') >= 1, 'stored batches were rebuilt from the ledger');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 10_000);
  assert.equal(await metric(registry, 'mlgate_ingester_rows_total'), 10_000);
  assert.equal(ingester.stats().rows, 10_000);
});
