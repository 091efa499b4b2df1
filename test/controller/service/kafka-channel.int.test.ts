/**
 * The Kafka control channel against the real broker: publish / readToEnd / subscribe, bad control
 * messages skipped with their reason (never applied), tombstones, the highest generation winning
 * a restart, and the gateway contract: a lower generation is ignored, and a gateway started after
 * states were published reads them before it serves (its first request already follows them).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { KafkaControlChannel } from '../../../services/routing/kafka-channel.ts';
import { createControlChannel } from '../../../services/routing/channel-factory.ts';
import { InProcessControlChannel } from '../../../services/routing/channel.ts';
import type { RoutingState } from '../../../services/routing/state.ts';
import { createLogger } from '../../../services/core/log.ts';
import { call, model, startTestGateway } from '../../gateway/helpers.ts';
import { needKafka, testKafka, waitUntil, withTopics } from '../../support/infra.ts';
import { startStandIn } from '../../support/upstream.ts';

const state = (m: string, generation: number, weights: Record<string, number>): RoutingState => ({
  model: m, generation, fallback: null,
  versions: Object.entries(weights).map(([name, weight]) => ({ name, weight, state: 'active' as const })),
  cause: { kind: 'controller', actor: 'test', reason: `gen ${generation}`, id: `d-${generation}`, at: 1 },
});

function channel(t: TestContext, brokers: string[], topic: string, logger = createLogger({ service: 'test', level: 'silent' })): KafkaControlChannel {
  const ch = new KafkaControlChannel({ brokers, clientId: 'mlgate-test-control', topic, logger, readTimeoutMs: 20_000 });
  t.after(() => ch.close());
  return ch;
}

test('kafka control channel: publish, readToEnd to the end offsets, live subscribe; bad messages and tombstones', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const { control } = await withTopics(t, brokers, { control: { compacted: true } });
  const lines: string[] = [];
  const logger = createLogger({ service: 'test', level: 'info', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) });

  const writer = channel(t, brokers, control);
  await writer.publish(state('m1', 10, { v1: 90, v2: 10 }));
  await writer.publish(state('m1', 12, { v1: 50, v2: 50 }));
  await writer.publish(state('m2', 3, { a: 100 }));
  // A stale state published after a newer one does not become "latest".
  await writer.publish(state('m1', 11, { v1: 100, v2: 0 }));
  await assert.rejects(writer.publish({ ...state('m1', 13, { v1: 90 }) }), /MLG_CONTROL_STATE_INVALID|weights must sum to 100/);

  // Bad messages written around the channel: not JSON, an invalid state, a key that is not the model.
  const producer = testKafka(brokers).producer();
  await producer.connect();
  await producer.send({ topic: control, messages: [
    { key: 'm1', value: 'not json' },
    { key: 'm1', value: JSON.stringify({ ...state('m1', 99, { v1: 100 }), versions: [{ name: 'v1', weight: 50, state: 'active' }] }) },
    { key: 'other', value: JSON.stringify(state('m1', 98, { v1: 100 })) },
    { key: 'm3', value: JSON.stringify(state('m3', 1, { x: 100 })) },
    { key: 'm3', value: null },
  ] });
  await producer.disconnect();

  const reader = channel(t, brokers, control, logger);
  const latest = await reader.readToEnd();
  const byModel = Object.fromEntries(latest.map((s) => [s.model, s.generation]));
  assert.deepEqual(byModel, { m1: 12, m2: 3 }, 'highest valid generation per model; bad messages skipped; m3 tombstoned');
  assert.equal(reader.skipped, 3);
  const skipped = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).filter((l) => l.msg.startsWith('bad control message'));
  assert.equal(skipped.length, 3);
  assert.match(skipped[0]!.reason!, /JSON/);
  assert.match(skipped[1]!.reason!, /weights must sum to 100/);
  assert.match(skipped[2]!.reason!, /key "other" is not the state's model "m1"/);

  const seen: number[] = [];
  reader.subscribe((s) => seen.push(s.generation));
  await writer.publish(state('m2', 4, { a: 100 }));
  await waitUntil('the live update', () => seen.includes(4), 15_000);
  assert.deepEqual(seen, [4], 'only states published after subscribing are delivered');
  assert.equal((await reader.readToEnd()).find((s) => s.model === 'm2')!.generation, 4);
});

test('control factory: Kafka channel with brokers, in-process without', () => {
  assert.ok(createControlChannel({}) instanceof InProcessControlChannel);
  assert.ok(createControlChannel({ kafka: { clientId: 'x' } }) instanceof InProcessControlChannel);
  const k = createControlChannel({ kafka: { brokers: ['127.0.0.1:1'], clientId: 'x' }, topic: 'mlgate.control.test' });
  assert.ok(k instanceof KafkaControlChannel);
  assert.equal(k.topic, 'mlgate.control.test');
  assert.throws(() => new KafkaControlChannel({ brokers: ['127.0.0.1:1'], clientId: 'x', topic: 'bad topic' }), /MLG_CONTROL_BAD_OPTIONS|not a Kafka topic name/);
});

test('gateway on the Kafka channel: reads published states before serving; ignores a lower generation', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const { control } = await withTopics(t, brokers, { control: { compacted: true } });
  const v1 = await startStandIn({ name: 'v1', t });
  const v2 = await startStandIn({ name: 'v2', t });
  const writer = channel(t, brokers, control);
  const gen = Date.now() + 1_000_000;
  await writer.publish(state('m', gen, { v1: 0, v2: 100 }));

  // The config says v1 100%; the published state (higher generation) says v2: the first request goes to v2.
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: v1.url, v2: v2.url }, { weights: { v1: 100, v2: 0 } }) } }, { control: channel(t, brokers, control) });
  assert.equal(gw.routing.get('m')!.generation, gen, 'the state was read before the gateway started serving');
  const first = await call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 } });
  assert.equal(first.status, 200);
  assert.equal(first.json.version, 'v2');
  assert.equal(v1.count, 0);

  // A lower generation is ignored; a higher one applies.
  await writer.publish(state('m', gen - 5, { v1: 100, v2: 0 }));
  await writer.publish(state('m', gen + 1, { v1: 0, v2: 100 }));
  await waitUntil('the higher generation', () => gw.routing.get('m')!.generation === gen + 1, 15_000);
  for (let i = 0; i < 20; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: { i } })).json.version, 'v2');
  assert.equal(v1.count, 0, 'the lower generation never routed a request to v1');
});
