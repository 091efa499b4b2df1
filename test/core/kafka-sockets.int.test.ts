/**
 * KafkaSockets.destroyAll against a real broker: a producer whose sockets a stop destroyed must
 * leave nothing holding the process. kafkajs keeps a 100 ms request-timeout interval per
 * connection and clears it only on its own error or end path; a socket destroyed without an
 * error left that interval running forever (mlgate start stayed up after logging "stopped").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaSockets, kafkaClient } from '../../services/core/kafka-clients.ts';
import { silentLogger } from '../../services/core/log.ts';
import { needKafka, waitUntil } from '../support/infra.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('KafkaSockets: after destroyAll, a connected producer leaves no timer running and no socket open', { timeout: 60_000 }, async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const sockets = new KafkaSockets();
  const kafka = kafkaClient({ clientId: 'mlgate-test-sockets', brokers, logger: silentLogger(), retry: { initialRetryTime: 100, retries: 2 }, sockets });
  const before = timers();
  const producer = kafka.producer();
  await producer.connect();
  await waitUntil('the producer to open a connection', () => sockets.size > 0, 10_000);
  assert.ok(timers() > before, 'a connected kafkajs client runs its request-timeout interval (else this test proves nothing)');
  sockets.destroyAll();
  assert.equal(sockets.size, 0);
  await waitUntil(`kafkajs's timers to be cleared (running: ${timers()}, before: ${before})`, () => timers() <= before, 10_000);
});
