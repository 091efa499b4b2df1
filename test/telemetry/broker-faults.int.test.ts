/**
 * The Kafka sink through broker faults, against a private broker (own port and log directory,
 * behind a proxy; never the shared one): a producer id the broker refuses by sequence number, a
 * broker SIGKILLed three times under load and restarted on its log directory, and a broker
 * restarted with its log directory wiped. Every event must reach Kafka at least once (distinct
 * event ids), none may be dropped, and a close right after a restart must finish within 10 s.
 * The long version is `npm run soak:kafka` (scripts/soak-kafka.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { silentLogger } from '../../services/core/log.ts';
import { KafkaSink, type KafkaSinkOptions } from '../../services/telemetry/kafka-sink.ts';
import { needKafka, waitUntil } from '../support/infra.ts';
import { tempDir } from '../support/cleanup.ts';
import { distinctIds, load, startFaultBroker, type FaultBroker } from './helpers/fault-broker.ts';

const BROKER_PORT = 29192;
const PROXY_PORT = 29190;
let broker: FaultBroker | undefined;

before(async () => {
  broker = await startFaultBroker(BROKER_PORT, PROXY_PORT);
});
after(async () => {
  await broker?.destroy();
});

function options(dir: string, topic: string, over: Partial<KafkaSinkOptions> = {}): KafkaSinkOptions {
  return {
    brokers: [broker!.address], clientId: 'mlgate-fault-sink', topic, partitions: 3,
    queue: { maxEvents: 100_000, highWater: 20_000 }, batch: { maxEvents: 500, maxBytes: 1 << 20, lingerMs: 5 },
    stallMs: 300, spill: { dir: join(dir, 'spill'), fsync: 'interval' }, connectionTimeoutMs: 1000, logger: silentLogger(), ...over,
  };
}


/** Waits until every emitted event is delivered, then closes within 10 s and checks Kafka holds each id. */
async function settleAndCheck(sink: KafkaSink, topic: string, ids: string[], mustHave: string[] = ids): Promise<void> {
  // Events the broker lost and the sink sent again are delivered twice (and counted so).
  await waitUntil('every event delivered', () => sink.stats().sent + sink.stats().replayed === ids.length + sink.resent() && sink.spillBacklog() === 0, 90_000, 100);
  assert.equal(sink.stats().dropped, 0, 'nothing dropped');
  const t0 = Date.now();
  await sink.close();
  assert.ok(Date.now() - t0 < 10_000, `close took ${Date.now() - t0} ms`);
  const { ids: seen, messages } = await distinctIds(broker!.client(), topic, mustHave, 30_000);
  const missing = mustHave.filter((id) => !seen.has(id));
  assert.equal(missing.length, 0, `${missing.length} of ${mustHave.length} events missing from Kafka (${messages} messages read)`);
}

for (const producerThread of ['main', 'worker'] as const) {
  test(`a producer id the broker refuses by sequence number is replaced (producer on the ${producerThread} thread); every event arrives, none is dropped`, async (t) => {
    if (!(await needKafka(t))) return;
    const topic = `faults.sequence.${producerThread}`;
    const sink = new KafkaSink(options(tempDir(t, 'fault-seq'), topic, { producerThread }));
    const l = load(sink, 5);
    await waitUntil('direct sends', () => sink.stats().sent >= 500, 60_000);
    const brokenBefore = broker!.proxy.broken;
    broker!.proxy.breakSequences();
    await waitUntil('the broker to refuse a sequence', () => broker!.proxy.broken > brokenBefore, 30_000);
    await waitUntil('a new producer and sends again', () => sink.producerResets() > 0 && sink.currentMode() === 'direct' && sink.stats().sent + sink.stats().replayed > 1500, 60_000, 100);
    await l.stop();
    await settleAndCheck(sink, topic, l.ids);
  });
}

test('broker SIGKILLed 3 times under load and restarted on its log directory: every event arrives, stop finishes within 10 s', async (t) => {
  if (!(await needKafka(t))) return;
  const topic = 'faults.sigkill';
  const sink = new KafkaSink(options(tempDir(t, 'fault-kill'), topic));
  const l = load(sink, 5);
  for (let round = 0; round < 3; round++) {
    const before = sink.stats().sent + sink.stats().replayed;
    await waitUntil('deliveries before the kill', () => sink.stats().sent + sink.stats().replayed > before + 200 + Math.floor(Math.random() * 800), 90_000, 20);
    await broker!.kill();
    await waitUntil('the sink to spill', () => sink.currentMode() === 'spill', 30_000, 20);
    await broker!.start();
  }
  await waitUntil('direct sends again', () => sink.currentMode() === 'direct', 90_000, 100);
  await l.stop();
  await settleAndCheck(sink, topic, l.ids);
});

test('broker restarted with its log directory wiped: the topic is created again, the events it had acknowledged are resent, and every event arrives without a restart', async (t) => {
  if (!(await needKafka(t))) return;
  const topic = 'faults.wiped';
  const sink = new KafkaSink(options(tempDir(t, 'fault-wipe'), topic));
  const l = load(sink, 5);
  await waitUntil('direct sends', () => sink.stats().sent >= 500, 60_000);
  const acknowledged = sink.stats().sent;
  await broker!.kill();
  await waitUntil('the sink to spill', () => sink.currentMode() === 'spill' && sink.stats().spilled > 200, 30_000, 20);
  // The events acknowledged before the kill went with the broker's data.
  await broker!.start({ wipe: true });
  await waitUntil('the loss noticed and the window resent', () => sink.brokerLosses() >= 1 && sink.resent() >= acknowledged, 90_000, 100);
  await waitUntil('replay finished and direct sends again', () => sink.currentMode() === 'direct' && sink.spillBacklog() === 0, 90_000, 100);
  await l.stop();
  await settleAndCheck(sink, topic, l.ids);
  assert.equal(sink.brokerLosses(), 1, 'one loss, noticed once');
});

test('resend window off: the events a wiped broker had acknowledged are lost, and the loss is still counted', async (t) => {
  if (!(await needKafka(t))) return;
  const topic = 'faults.wiped.nowindow';
  const sink = new KafkaSink(options(tempDir(t, 'fault-wipe-off'), topic, { resendWindow: { seconds: 0, maxBytes: 0 } }));
  const l = load(sink, 5);
  await waitUntil('direct sends', () => sink.stats().sent >= 500, 60_000);
  await broker!.kill();
  const after = l.ids.length;
  await waitUntil('the sink to spill', () => sink.currentMode() === 'spill' && sink.stats().spilled > 200, 30_000, 20);
  await broker!.start({ wipe: true });
  await waitUntil('replay finished and direct sends again', () => sink.currentMode() === 'direct' && sink.spillBacklog() === 0 && sink.brokerLosses() >= 1, 90_000, 100);
  await l.stop();
  assert.equal(sink.resent(), 0);
  await settleAndCheck(sink, topic, l.ids, l.ids.slice(after));
  const { ids: seen } = await distinctIds(broker!.client(), topic, l.ids, 10_000); // reads the whole topic (10 s)
  assert.ok(l.ids.slice(0, 100).every((id) => !seen.has(id)), 'without the window the first events are gone (else the wipe test above proves nothing)');
});
