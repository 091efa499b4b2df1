/**
 * The Kafka sink against real brokers: exact counts into the shared broker, an outage of a
 * private broker under steady load, and a SIGKILLed process whose spill is replayed by the next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../services/core/log.ts';
import { KafkaSink, type KafkaSinkOptions } from '../../services/telemetry/kafka-sink.ts';
import { sampleEvent } from '../support/events.ts';
import { needKafka, privateKafka, testKafka, uniqueName, waitUntil } from '../support/infra.ts';
import { deleteTopics, readTopic, topicCount } from './helpers/kafka.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';

function sinkOptions(brokers: string[], topic: string, dir: string, over: Partial<KafkaSinkOptions> = {}): KafkaSinkOptions {
  return {
    brokers, clientId: 'mlgate-test-sink', topic, partitions: 3,
    queue: { maxEvents: 100_000, highWater: 20_000 }, batch: { maxEvents: 1000, maxBytes: 1 << 20, lingerMs: 5 },
    stallMs: 500, spill: { dir, fsync: 'interval' }, connectionTimeoutMs: 1000, logger: silentLogger(), ...over,
  };
}

function assertExactly(ids: string[], messages: Array<{ key: string; value: string; headers: Record<string, string> }>): void {
  const seen = new Set<string>();
  for (const m of messages) {
    const id = (JSON.parse(m.value) as { event_id: string }).event_id;
    assert.equal(m.key, id, 'the message key is the event_id');
    assert.equal(m.headers.schema_version, '1');
    assert.ok(!seen.has(id), `duplicate event ${id}`);
    seen.add(id);
  }
  assert.equal(seen.size, ids.length);
  for (const id of ids) assert.ok(seen.has(id), `missing event ${id}`);
}

for (const producerThread of ['main', 'worker'] as const) {
test(`kafka sink (producer in the ${producerThread} thread): 20,000 events give exactly 20,000 messages, keyed by event_id, topic created with its partitions`, async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const kafka = testKafka(brokers);
  const topic = uniqueName('t.tel').replace(/_/g, '.');
  cleanup(t, () => deleteTopics(kafka, [topic]));
  const sink = new KafkaSink(sinkOptions(brokers, topic, tempDir(t, 'ksink'), { producerThread }));
  const ids: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const e = sampleEvent({ model: `m${i % 4}` });
    ids.push(e.event_id);
    sink.emit(e);
    if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
  }
  await sink.flush();
  // flush() may resolve with a slow batch spilled rather than acknowledged: wait for delivery.
  await waitUntil('all 20,000 delivered', () => sink.stats().sent + sink.stats().replayed === 20_000 && sink.spillBacklog() === 0, 60_000);
  assert.equal(sink.stats().dropped, 0);
  await sink.close();
  assert.equal(await topicCount(kafka, topic), 20_000);
  const admin = kafka.admin();
  await admin.connect();
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  await admin.disconnect();
  assert.equal(meta.topics[0]!.partitions.length, 3);
  const msgs = await readTopic(kafka, topic, 20_000);
  assertExactly(ids, msgs);
  assert.equal(new Set(msgs.map((m) => m.partition)).size, 3, 'event_id keys spread over every partition');
});
}

test('kafka sink: started while its broker is down, it spills under steady load and delivers every event once when the broker comes up', async (t) => {
  // The steady-load outage of a broker that was up is covered at the gateway level
  // (gateway-kafka.int.test.ts); here the sink has never reached Kafka when the events arrive.
  if (!(await needKafka(t))) return;
  const broker = await privateKafka(t, 29092);
  await broker.stop();
  const kafka = testKafka([broker.address]);
  const topic = 'mlgate.telemetry.v1';
  const sink = new KafkaSink(sinkOptions([broker.address], topic, tempDir(t, 'ksink'), { stallMs: 300 }));
  cleanup(t, () => sink.close());
  const ids: string[] = [];
  let stop = false;
  const load = (async () => {
    while (!stop) {
      for (let i = 0; i < 50; i++) {
        const e = sampleEvent();
        ids.push(e.event_id);
        sink.emit(e);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await waitUntil('sink to spill', () => sink.currentMode() === 'spill' && sink.stats().spilled >= 2000, 60_000);
  assert.equal(sink.stats().sent, 0);
  await broker.start();
  await waitUntil('replay to finish and direct sends to resume', () => sink.currentMode() === 'direct' && sink.stats().replayed >= 2000 && sink.stats().sent > 0, 120_000);
  stop = true;
  await load;
  await sink.flush();
  await waitUntil('every event delivered', () => sink.stats().sent + sink.stats().replayed === ids.length && sink.spillBacklog() === 0, 60_000);
  assert.equal(sink.stats().dropped, 0);
  await waitUntil('all messages in the topic', async () => (await topicCount(kafka, topic)) >= ids.length, 30_000, 200);
  assert.equal(await topicCount(kafka, topic), ids.length);
  assertExactly(ids, await readTopic(kafka, topic, ids.length));
});

test('kafka sink: events spilled by a process killed with SIGKILL are replayed by the next one', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const kafka = testKafka(brokers);
  const dir = tempDir(t, 'ksink');
  const spillDir = join(dir, 'spill');
  const idsFile = join(dir, 'ids.json');
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers/spill-child.ts'), spillDir, '3000', idsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitUntil('child to spill 3000 events', () => /spilled 3000/.test(out), 60_000);
  child.kill('SIGKILL');
  await exited;
  const ids = JSON.parse(readFileSync(idsFile, 'utf8')) as string[];
  const topic = uniqueName('t.tel').replace(/_/g, '.');
  cleanup(t, () => deleteTopics(kafka, [topic]));
  const sink = new KafkaSink(sinkOptions(brokers, topic, spillDir));
  assert.equal(sink.currentMode(), 'spill', 'a restart with leftover spill replays it first');
  await waitUntil('leftover replayed', () => sink.stats().replayed === 3000 && sink.currentMode() === 'direct', 60_000);
  await sink.close();
  assert.equal(await topicCount(kafka, topic), 3000);
  assertExactly(ids, await readTopic(kafka, topic, 3000));
});

for (const producerThread of ['main', 'worker'] as const) {
test(`kafka sink (producer in the ${producerThread} thread): an event Kafka refuses for good is counted as dropped and does not stall the others`, async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const kafka = testKafka(brokers);
  const topic = uniqueName('t.poison').replace(/_/g, '.');
  const admin = kafka.admin();
  await admin.connect();
  cleanup(t, () => deleteTopics(kafka, [topic]));
  try {
    await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '30000' }] }] });
    await waitUntil('the topic to have a leader', async () => {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      return meta.topics[0]?.partitions[0]?.leader !== undefined && meta.topics[0].partitions[0].leader >= 0;
    }, 30_000, 100);
  } finally {
    await admin.disconnect();
  }
  const dir = tempDir(t, 'ksink');
  const deadLetterFile = join(dir, 'dead.jsonl');
  const sink = new KafkaSink(sinkOptions(brokers, topic, join(dir, 'spill'), { producerThread, deadLetterFile }));
  cleanup(t, () => sink.close());
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) {
    const e = sampleEvent();
    ids.push(e.event_id);
    sink.emit(e);
    if (i === 25) sink.emit(sampleEvent({ input_redacted: 'x'.repeat(60_000) }));
  }
  await waitUntil('the refused event to be counted', () => sink.stats().dropped === 1 && sink.stats().sent + sink.stats().replayed === 50, 60_000);
  assert.equal(await topicCount(kafka, topic), 50);
  assertExactly(ids, await readTopic(kafka, topic, 50));
  // Dropped, but kept: one line in the dead-letter file, readable by its owner only.
  assert.equal(sink.deadLetters(), 1);
  const lines = readFileSync(deadLetterFile, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  const dead = JSON.parse(lines[0]!) as { reason: string; value_base64: string };
  assert.equal(dead.reason, 'MESSAGE_TOO_LARGE');
  assert.ok(Buffer.from(dead.value_base64, 'base64').toString().includes('x'.repeat(1000)));
  assert.equal(statSync(deadLetterFile).mode & 0o777, 0o600);
});
}

test('kafka sink: past the high-water mark events go through the spill, and all arrive once', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const kafka = testKafka(brokers);
  const topic = uniqueName('t.hw').replace(/_/g, '.');
  cleanup(t, () => deleteTopics(kafka, [topic]));
  const sink = new KafkaSink(sinkOptions(brokers, topic, tempDir(t, 'ksink'), { queue: { maxEvents: 20_000, highWater: 200 } }));
  cleanup(t, () => sink.close());
  const ids: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const e = sampleEvent();
    ids.push(e.event_id);
    sink.emit(e);
  }
  assert.equal(sink.currentMode(), 'spill');
  await waitUntil('replay to catch up', () => sink.stats().sent + sink.stats().replayed === 5000 && sink.currentMode() === 'direct', 60_000);
  assert.ok(sink.stats().replayed > 0);
  assert.equal(await topicCount(kafka, topic), 5000);
  assertExactly(ids, await readTopic(kafka, topic, 5000));
});
