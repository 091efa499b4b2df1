import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needKafka, testKafka, withTopics, uniqueName, waitUntil } from '../support/infra.ts';

test('kafkajs creates topics, produces idempotently and consumes in a group against the local broker', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const topics = await withTopics(t, brokers, { data: { partitions: 3 } });
  const kafka = testKafka(brokers);

  const admin = kafka.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const meta = await admin.fetchTopicMetadata({ topics: [topics.data] });
  assert.equal(meta.topics[0]!.partitions.length, 3);

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  const sent = Array.from({ length: 300 }, (_, i) => ({ key: `k${i % 17}`, value: JSON.stringify({ i }) }));
  await producer.send({ topic: topics.data, acks: -1, messages: sent });

  const groupId = uniqueName('g');
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  t.after(() => consumer.disconnect());
  await consumer.subscribe({ topic: topics.data, fromBeginning: true });
  const seen = new Set<number>();
  await consumer.run({ eachMessage: async ({ message }) => { seen.add(JSON.parse(message.value!.toString()).i); } });
  await waitUntil('all 300 messages consumed', () => seen.size === 300, 30_000);
  assert.deepEqual([...seen].sort((a, b) => a - b), sent.map((_, i) => i));

  // The group commits what it consumed: the committed offsets add up to the 300 messages.
  await waitUntil('offsets committed', async () => {
    const [off] = await admin.fetchOffsets({ groupId, topics: [topics.data] });
    return off!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) === 300;
  }, 30_000, 200);
});
