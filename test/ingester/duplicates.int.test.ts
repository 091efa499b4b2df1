// An event in the topic twice, at two offsets (a producer reset resending what it could not
// confirm, a gateway crash window, a spill replay): one row in `requests`, exact per-minute counts
// in `requests_1m`, across an ingester restart and a crash between insert and commit. Real Kafka
// (messages keyed by event id, as the gateway's sink sends them) and the embedded ClickHouse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needKafka, testKafka, waitUntil, withTopics } from '../support/infra.ts';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { eventValues, groupProgress, metric, runIngester, testIngesterConfig, testKafkaSource } from './support.ts';
import type { Source } from '../../services/ingester/source.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';

/** Produces `values` keyed by their event id (the sink's key), so copies share a partition. */
async function produceKeyed(brokers: string[], topic: string, values: readonly Buffer[]): Promise<void> {
  const producer = testKafka(brokers, 'mlgate-test-dup-producer').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += 500) {
      await producer.send({
        topic, acks: -1,
        messages: values.slice(i, i + 500).map((value) => ({ key: (JSON.parse(value.toString()) as { event_id: string }).event_id, value })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Events per minute (unix seconds of the minute → count), as requests_1m must hold them. */
function perMinute(values: readonly Buffer[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const v of values) {
    const minute = Math.floor((JSON.parse(v.toString()) as { ts: number }).ts / 60_000) * 60;
    m.set(minute, (m.get(minute) ?? 0) + 1);
  }
  return m;
}

async function storedPerMinute(wh: Warehouse): Promise<Map<number, number>> {
  const rows = await wh.query<{ m: number; n: number | string }>('SELECT toUnixTimestamp(minute) AS m, sum(requests) AS n FROM {db}.requests_1m GROUP BY m');
  return new Map(rows.map((r) => [Number(r.m), Number(r.n)]));
}

async function assertExact(wh: Warehouse, unique: readonly Buffer[]): Promise<void> {
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), unique.length, 'one row per event');
  assert.equal(await count(wh, 'SELECT uniqExact(event_id) FROM {db}.requests'), unique.length);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), unique.length, 'aggregates count each event once');
  assert.deepEqual(await storedPerMinute(wh), perMinute(unique), 'per-minute counts exact');
}

/** A source whose commits fail from commit number `at` on, after which it handles nothing (a crash after insert). */
function crashAfterInsert(inner: Source, at: number): { source: Source; crashed: () => boolean } {
  let commits = 0;
  let dead = false;
  return {
    crashed: () => dead,
    source: {
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
    },
  };
}

async function committedAll(brokers: string[], groupId: string, topic: string, end: number): Promise<void> {
  await waitUntil(`${end} offsets committed`, async () => {
    const p = await groupProgress(brokers, groupId, topic);
    return p.end === end && p.committed === end;
  }, 90_000, 250);
}

test('an event produced twice at two offsets (same batch, later batch, after a restart) is stored once, per-minute counts exact', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 2 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  const cfg = testIngesterConfig(topics, { batch: { maxRows: 400, lingerMs: 100, minBytes: 1 } });

  // Run 1: 3,000 events; 300 of them again in the same send (often the same batch), 300 more a send later.
  const first = eventValues(3000);
  await produceKeyed(brokers, topics.events, [...first.slice(0, 1500), ...first.slice(0, 300), ...first.slice(1500), ...first.slice(1000, 1300)]);
  const a = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await committedAll(brokers, cfg.groupId, topics.events, 3600);
  assert.equal(await metric(a.registry, 'mlgate_ingester_duplicate_events_total'), 600);
  assert.equal(a.ingester.stats().rows, 3000);
  await assertExact(wh, first);
  await a.ingester.stop();

  // Run 2, a new ingester in the same group: copies of events stored by run 1, mixed with new ones.
  const second = eventValues(2000);
  await produceKeyed(brokers, topics.events, [...first.slice(2000, 2500), ...second, ...first.slice(0, 100)]);
  const b = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await committedAll(brokers, cfg.groupId, topics.events, 6200);
  assert.equal(await metric(b.registry, 'mlgate_ingester_duplicate_events_total'), 600);
  await assertExact(wh, [...first, ...second]);
});

test('duplicates inside batches replayed from the ledger after a crash between insert and commit: still one row each', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 1 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  const cfg = testIngesterConfig(topics, { batch: { maxRows: 500, lingerMs: 100, minBytes: 1 } });
  // Every 4th event comes again 7 messages later (the same batch or the next one).
  const events = eventValues(4000);
  const stream: Buffer[] = [];
  events.forEach((v, i) => {
    stream.push(v);
    if (i >= 7 && (i - 7) % 4 === 0) stream.push(events[i - 7]!);
  });
  await produceKeyed(brokers, topics.events, stream);
  const crash = crashAfterInsert(testKafkaSource(brokers, cfg), 3);
  const a = await runIngester(t, wh, cfg, crash.source);
  await waitUntil('the failed commit', () => crash.crashed(), 30_000);
  await a.ingester.stop();
  const { committed } = await groupProgress(brokers, cfg.groupId, topics.events);
  const storedBeyond = await count(wh, 'SELECT count() FROM {db}.requests WHERE src_offset >= {c:UInt64}', { c: committed });
  assert.ok(storedBeyond > 0, `rows beyond the committed offset must exist for the test to mean anything (committed ${committed})`);
  const b = await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await committedAll(brokers, cfg.groupId, topics.events, stream.length);
  assert.ok(await metric(b.registry, 'mlgate_ingester_replayed_batches_total') >= 1, 'batches were rebuilt from the ledger');
  await assertExact(wh, events);
});

test('a range stored by one ingester and read again by another that cuts it differently without seeing its ledger records (a deposed owner after a broker restart): one row each, per-minute counts exact', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 1 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  // Owner A: batches of up to 300. It stores 2,000 events and commits them in its own group.
  const cfgA = testIngesterConfig(topics, { batch: { maxRows: 300, lingerMs: 100, minBytes: 1 }, groupId: `ga-${topics.events}` });
  const first = eventValues(2000);
  await produceKeyed(brokers, topics.events, first);
  const a = await runIngester(t, wh, cfgA, testKafkaSource(brokers, cfgA));
  await committedAll(brokers, cfgA.groupId, topics.events, 2000);
  await a.ingester.stop();
  await assertExact(wh, first);
  // Owner B reads the same offsets again (from an older committed offset) and has not seen A's
  // ledger records: A recorded and inserted after B read the ledger. B cuts the range its own way
  // (batches of up to 170), so no token of B matches one of A.
  await wh.command('TRUNCATE TABLE {db}.ingest_ledger');
  const second = eventValues(1000);
  await produceKeyed(brokers, topics.events, second);
  const cfgB = testIngesterConfig(topics, { batch: { maxRows: 170, lingerMs: 100, minBytes: 1 }, groupId: `gb-${topics.events}` });
  const b = await runIngester(t, wh, cfgB, testKafkaSource(brokers, cfgB));
  await committedAll(brokers, cfgB.groupId, topics.events, 3000);
  await assertExact(wh, [...first, ...second]);
  assert.equal(await metric(b.registry, 'mlgate_ingester_already_stored_rows_total'), 2000, 'every row A stored is found at its own offset');
  assert.equal(await metric(b.registry, 'mlgate_ingester_duplicate_events_total'), 0, 'no copy at another offset');
  assert.equal(b.ingester.stats().rows, 1000, 'B inserts only what A had not stored');
});

test('the partition claim fences a deposed owner: its batch in hand when another ingester claimed the partition and stored the range is not inserted', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { events: { partitions: 1 }, dlq: {} });
  const wh = await embeddedWarehouse(t);
  const events = eventValues(1000);
  await produceKeyed(brokers, topics.events, events);
  // Owner A holds its first batch after the event-id lookup, at the claim check just before the
  // insert: the moment a deposed owner that has not heard of the rebalance is in.
  let held!: () => void;
  const reachedCheck = new Promise<void>((r) => { held = r; });
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let checks = 0;
  const gated = new Proxy(wh, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return async (sql: string, params?: Record<string, unknown>) => {
          if (sql.includes('ingest_claims') && checks++ === 0) {
            held();
            await gate;
          }
          return target.query(sql, params);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Warehouse;
  const cfgA = testIngesterConfig(topics, { batch: { maxRows: 300, lingerMs: 100, minBytes: 1 }, groupId: `ga-${topics.events}` });
  const a = await runIngester(t, gated, cfgA, testKafkaSource(brokers, cfgA));
  await reachedCheck;
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 0, 'A has inserted nothing yet');
  // B is assigned the partition (it claims it), has not seen A's ledger records, cuts the range
  // its own way and stores all of it.
  await wh.command('TRUNCATE TABLE {db}.ingest_ledger');
  const cfgB = testIngesterConfig(topics, { batch: { maxRows: 170, lingerMs: 100, minBytes: 1 }, groupId: `gb-${topics.events}` });
  const b = await runIngester(t, wh, cfgB, testKafkaSource(brokers, cfgB));
  await committedAll(brokers, cfgB.groupId, topics.events, 1000);
  assert.equal(b.ingester.stats().rows, 1000);
  // A goes on: its check finds B's newer claim, and the batch is left to B.
  release();
  await waitUntil('A fenced', async () => (await metric(a.registry, 'mlgate_ingester_fenced_batches_total')) >= 1, 30_000);
  await committedAll(brokers, cfgA.groupId, topics.events, 1000);
  assert.equal(a.ingester.stats().rows, 0, 'A inserted none of its batches');
  await assertExact(wh, events);
});
