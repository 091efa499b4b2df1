/**
 * The whole pipeline through broker faults: gateway → Kafka sink → private broker → ingester →
 * ClickHouse (embedded), all running while produce responses are lost after the broker stored the
 * records (the proxy throws them away: what a kill right after a write leaves), then while the
 * broker is SIGKILLed twice under load and restarted on its log directory. The sink resends what it
 * could not confirm (at least once into Kafka: the topic holds copies); the ingester removes the
 * copies by event id. The promise checked is the user's: exactly one row per answered request, with the
 * event id the client saw, and no request failed because of telemetry.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { parseConfig } from '../../services/core/config.ts';
import { pino } from 'pino';
import { createLogger, silentLogger } from '../../services/core/log.ts';
import { startGateway } from '../../services/gateway/gateway.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { createSink } from '../../services/telemetry/factory.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { KafkaSink } from '../../services/telemetry/kafka-sink.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { needKafka, waitUntil } from '../support/infra.ts';
import { startStandIn } from '../support/upstream.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';
import { gatewayConfig, model } from '../gateway/helpers.ts';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { Registry } from 'prom-client';
import { KafkaSource } from '../../services/ingester/kafka-source.ts';
import { startIngester } from '../../services/ingester/ingester.ts';
import { groupProgress, runIngester, testIngesterConfig, testKafkaSource, testKafkaSourceOptions } from '../ingester/support.ts';
import { startFaultBroker, type FaultBroker } from './helpers/fault-broker.ts';

const BROKER_PORT = 29392;
const PROXY_PORT = 29390;
/** Kills per run: 2 in the suite; `STACK_KILLS=10 node scripts/test.mjs test/telemetry/stack-broker-kills` is the long version. */
const KILLS = Math.max(1, Number(process.env.STACK_KILLS ?? 2));
const HASH_KEY = 'stack-broker-kills-key-0123';
let broker: FaultBroker | undefined;

before(async () => {
  broker = await startFaultBroker(BROKER_PORT, PROXY_PORT);
});
after(async () => {
  await broker?.destroy();
});

/**
 * `connections` clients each sending a request every ~20 ms (with an email in the body) to model
 * `m`: the event ids of the answered ones, the statuses of the others, and how to stop.
 */
function steadyLoad(t: TestContext, url: string, connections: number): { ids: string[]; failures: number[]; stop: () => Promise<void> } {
  const pool = new Pool(url, { connections });
  cleanup(t, () => pool.close());
  const ids: string[] = [];
  const failures: number[] = [];
  let stopped = false;
  let n = 0;
  const loop = Promise.all(Array.from({ length: connections }, async () => {
    while (!stopped) {
      const i = n++;
      const res = await pool.request({
        path: '/v1/models/m/predict', method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `request ${i} from user${i}@example.com` }),
      });
      await res.body.dump();
      if (res.statusCode !== 200) failures.push(res.statusCode);
      else ids.push(String(res.headers['x-mlgate-event-id']));
      await new Promise((r) => setTimeout(r, 20)); // pacing of the load, not synchronisation
    }
  }));
  return { ids, failures, stop: async () => { stopped = true; await loop; } };
}

test(`whole stack: lost produce responses and ${KILLS} broker SIGKILLs under load give exactly one ClickHouse row per answered request`, async (t) => {
  if (!(await needKafka(t)) || !broker) return;
  const topic = 'stack.kills.events';
  const telemetry = parseConfig(TelemetrySection, { topic, partitions: 3, stallMs: 300, hashing: { key: HASH_KEY } });
  // STACK_LOG=<file> keeps the sink's and the ingester's logs of a long run (debug level).
  const logger = process.env.STACK_LOG ? createLogger({ service: 'stack-kills', level: 'debug', destination: pino.destination({ dest: process.env.STACK_LOG, sync: true }) }) : silentLogger();
  const sink = createSink({ telemetry, kafka: { brokers: [broker.address], clientId: 'gw-stack-kills', connectionTimeoutMs: 1000 }, dataDir: tempDir(t, 'stack-kills'), logger });
  assert.ok(sink instanceof KafkaSink);
  const v1 = await startStandIn({ name: 'v1', t });
  const gw = await startGateway({
    config: gatewayConfig({ models: { m: model({ v1: v1.url }) } }), sink, gatewayId: 'gw-stack-kills',
    hasher: createHasher({ key: HASH_KEY, keyId: 'k1' }), redactor: createRedactor({ maxChars: 2048 }), logger: silentLogger(),
  });
  cleanup(t, async () => { await gw.close(); await sink.close(); });

  // The ingester runs throughout, so it too lives through every kill.
  const wh = await embeddedWarehouse(t);
  const cfg = testIngesterConfig({ events: topic, dlq: `${topic}.dlq` }, { batch: { maxRows: 1000, lingerMs: 100, minBytes: 1 } });
  const source = new KafkaSource({ ...testKafkaSourceOptions([broker.address], cfg), logger: logger.child({ component: 'kafka-source' }) });
  const registry = new Registry();
  const ingester = await startIngester({ config: cfg, warehouse: wh, source, registry, logger: logger.child({ component: 'ingester' }) });
  t.after(() => ingester.stop());
  let failed: Error | undefined;
  void ingester.failure.then((err) => { failed = err; });

  const { ids, failures, stop: stopLoad } = steadyLoad(t, gw.url, 8);

  // First, produce responses lost after the broker stored the records (what a kill right after
  // a write does): the sink cannot confirm them, resends them under a new producer id, and the
  // topic holds copies the ingester must drop.
  await waitUntil('traffic flowing', () => sink.stats().sent >= 500, 120_000, 100);
  broker.proxy.swallowProduceResponses(true);
  await waitUntil('a resend under a new producer id', () => broker!.proxy.swallowed >= 3 && sink.producerResets() >= 1, 60_000, 50);
  broker.proxy.swallowProduceResponses(false);

  for (let k = 0; k < KILLS; k++) {
    const sentBefore = sink.stats().sent + sink.stats().replayed;
    await waitUntil(`traffic flowing before kill ${k + 1}`, () => sink.stats().sent + sink.stats().replayed >= sentBefore + 500 && sink.currentMode() === 'direct', 120_000, 100);
    await broker.kill();
    await waitUntil(`the sink to notice kill ${k + 1}`, () => sink.currentMode() === 'spill', 30_000, 50);
    await broker.start();
  }
  await waitUntil('traffic flowing after the last restart', () => sink.currentMode() === 'direct' && sink.spillBacklog() === 0, 180_000, 100);
  await stopLoad();
  await gw.close();
  await sink.flush();
  await waitUntil('every event delivered', () => sink.stats().sent + sink.stats().replayed >= ids.length && sink.spillBacklog() === 0, 120_000, 100);

  assert.deepEqual(failures, [], 'no request failed because of telemetry');
  assert.equal(sink.stats().dropped, 0, 'nothing dropped');
  assert.equal(new Set(ids).size, ids.length, 'every answered request announced its own event id');
  // Every message in the topic, copies included, handled and committed by the ingester.
  let progress = { end: 0, committed: 0 };
  await waitUntil('the ingester to commit the whole topic', async () => {
    if (failed) throw new Error(`the ingester failed: ${failed.message}`);
    progress = await groupProgress([broker!.address], cfg.groupId, topic);
    return progress.end >= ids.length && progress.committed === progress.end;
  }, 180_000, 250).catch(async (err: Error) => {
    const rows = await count(wh, 'SELECT count() FROM {db}.requests');
    throw new Error(`${err.message} (committed ${progress.committed} of ${progress.end} messages; ${rows} rows for ${ids.length} requests; ingester ${failed ? `failed: ${failed.message}` : 'running'})`);
  });
  const p = await groupProgress([broker.address], cfg.groupId, topic);
  assert.ok(p.end > ids.length, `the topic must hold copies for this test to mean anything (${p.end} messages, ${ids.length} requests)`);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), ids.length, `one row per answered request, no copy (${p.end} messages in the topic)`);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), ids.length, 'per-minute counts exact');
  const stored = new Set((await wh.query<{ id: string }>('SELECT toString(event_id) AS id FROM {db}.requests')).map((r) => r.id));
  const missing = ids.filter((id) => !stored.has(id));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} answered requests have no row`);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE position(input_redacted, '@example.com') > 0"), 0, 'no raw email stored');
  t.diagnostic(`${ids.length} requests, ${p.end} messages, ${broker.proxy.swallowed} responses lost, ${sink.producerResets()} producer resets, ${sink.stats().spilled} spilled, ${sink.stats().replayed} replayed`);
});

test('whole stack: a broker restarted with its log directory wiped while the ingester lagged: every answered request still gets exactly one row, without a restart', async (t) => {
  if (!(await needKafka(t)) || !broker) return;
  const topic = 'stack.wipe.events';
  // STACK_WIPE_WINDOW_S=0 shows what the resend window is for: the run then fails.
  const seconds = Number(process.env.STACK_WIPE_WINDOW_S ?? 60);
  const telemetry = parseConfig(TelemetrySection, { topic, partitions: 3, stallMs: 300, hashing: { key: HASH_KEY }, resendWindow: { seconds } });
  const sink = createSink({ telemetry, kafka: { brokers: [broker.address], clientId: 'gw-stack-wipe', connectionTimeoutMs: 1000 }, dataDir: tempDir(t, 'stack-wipe'), logger: silentLogger() });
  assert.ok(sink instanceof KafkaSink);
  const v1 = await startStandIn({ name: 'v1', t });
  const gw = await startGateway({
    config: gatewayConfig({ models: { m: model({ v1: v1.url }) } }), sink, gatewayId: 'gw-stack-wipe',
    hasher: createHasher({ key: HASH_KEY, keyId: 'k1' }), redactor: createRedactor({ maxChars: 2048 }), logger: silentLogger(),
  });
  cleanup(t, async () => { await gw.close(); await sink.close(); });
  const wh = await embeddedWarehouse(t);
  const cfg = testIngesterConfig({ events: topic, dlq: `${topic}.dlq` }, { batch: { maxRows: 1000, lingerMs: 100, minBytes: 1 } });
  const first = await runIngester(t, wh, cfg, testKafkaSource([broker.address], cfg));

  const { ids, failures, stop: stopLoad } = steadyLoad(t, gw.url, 4);

  await waitUntil('rows in ClickHouse', async () => (await count(wh, 'SELECT count() FROM {db}.requests')) >= 300, 120_000, 200);
  // The ingester falls behind (stopped here): what Kafka acknowledges now is stored only there.
  await first.ingester.stop();
  const sentAtPause = sink.stats().sent;
  await waitUntil('events acknowledged while the ingester is behind', () => sink.stats().sent >= sentAtPause + 500, 120_000, 100);
  await broker.kill();
  await waitUntil('the sink to spill', () => sink.currentMode() === 'spill', 30_000, 50);
  await broker.start({ wipe: true });
  await runIngester(t, wh, cfg, testKafkaSource([broker.address], cfg));
  await waitUntil('direct sends again after the wipe', () => sink.currentMode() === 'direct' && sink.spillBacklog() === 0 && sink.brokerLosses() >= 1, 180_000, 100);
  await stopLoad();
  await gw.close();
  await sink.flush();
  await waitUntil('every event delivered', () => sink.spillBacklog() === 0 && sink.stats().sent + sink.stats().replayed >= ids.length + sink.resent(), 120_000, 100);

  assert.deepEqual(failures, [], 'no request failed because of telemetry');
  assert.equal(sink.stats().dropped, 0, 'nothing dropped');
  const stored = async () => new Set((await wh.query<{ id: string }>('SELECT toString(event_id) AS id FROM {db}.requests')).map((r) => r.id));
  await waitUntil('a row for every answered request', async () => { const s = await stored(); return ids.every((id) => s.has(id)); }, 120_000, 500)
    .catch(async (err: Error) => {
      const s = await stored();
      throw new Error(`${ids.filter((id) => !s.has(id)).length} of ${ids.length} answered requests have no row (${sink.resent()} resent, ${sink.brokerLosses()} losses noticed): ${err.message}`);
    });
  await waitUntil('the ingester to commit the whole topic', async () => {
    const p = await groupProgress([broker!.address], cfg.groupId, topic);
    return p.committed === p.end;
  }, 120_000, 250);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), ids.length, 'one row per answered request, no copy');
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), ids.length, 'per-minute counts exact');
  t.diagnostic(`${ids.length} requests, ${sink.stats().sent - sentAtPause} acknowledged while the ingester was behind, ${sink.resent()} resent after the wipe`);
});
