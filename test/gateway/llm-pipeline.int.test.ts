/**
 * An LLM version with an upstream credential, through real Kafka and the ingester into
 * ClickHouse: the rows carry tokens (streams included), the upstream model and the stream's
 * token timing, and the secret is in no Kafka message and no ClickHouse row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { parseConfig } from '../../services/core/config.ts';
import { silentLogger } from '../../services/core/log.ts';
import { startGateway } from '../../services/gateway/gateway.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { createSink } from '../../services/telemetry/factory.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { needKafka, testKafka, waitUntil, withTopics } from '../support/infra.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';
import { readTopic } from '../telemetry/helpers/kafka.ts';
import { embeddedWarehouse, count } from '../warehouse/support.ts';
import { runIngester, testIngesterConfig, testKafkaSource } from '../ingester/support.ts';
import { gatewayConfig } from './helpers.ts';
import { startLlmStub } from './llm-stub.ts';

const ENV = 'MLGATE_TEST_LLM_PIPELINE_KEY';

test('llm pipeline: rows have tokens, cost and the upstream model; the credential is in no Kafka message or ClickHouse row', async (t) => {
  const brokers = await needKafka(t);
  if (!brokers) return;
  const key = `sk-test-${randomBytes(12).toString('hex')}`;
  process.env[ENV] = key;
  t.after(() => { delete process.env[ENV]; });
  const topics = await withTopics(t, brokers, { events: {}, dlq: {} });
  const stub = await startLlmStub(t);
  const telemetry = parseConfig(TelemetrySection, { topic: topics.events, hashing: { key: 'llm-pipeline-test-key-0123' } });
  const sink = createSink({ telemetry, kafka: { brokers, clientId: 'gw-llm-test', connectionTimeoutMs: 1000 }, dataDir: tempDir(t, 'gwllm'), logger: silentLogger() });
  const gw = await startGateway({
    config: gatewayConfig({ models: { chat: { versions: { v1: { targets: [stub.url], upstreamModel: 'up-model-1', credentials: { authorization: { env: ENV, prefix: 'Bearer ' } }, pricePerMillionTokens: { input: 2.5, output: 10 } } } } } }),
    sink, gatewayId: 'gw-llm', hasher: createHasher({ key: 'llm-pipeline-test-key-0123', keyId: 'k1' }), redactor: createRedactor({ maxChars: 2048 }), logger: silentLogger(),
  });
  cleanup(t, async () => { await gw.close(); await sink.close(); });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
  stub.gapMs = 20;
  await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hello' }] });
  for await (const _ of await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true })) { /* drain */ }
  stub.mode = 'error';
  await assert.rejects(client.chat.completions.create({ model: 'chat', messages: [] }));
  assert.ok(stub.requests.every((r) => r.headers.authorization === `Bearer ${key}`));
  await gw.close();
  await sink.flush();

  const messages = await readTopic(testKafka(brokers), topics.events, 3);
  assert.equal(messages.length, 3);
  for (const m of messages) assert.ok(!m.value.includes(key), 'the secret is not in Kafka');

  const wh = await embeddedWarehouse(t);
  const cfg = testIngesterConfig(topics);
  await runIngester(t, wh, cfg, testKafkaSource(brokers, cfg));
  await waitUntil('3 rows', async () => (await count(wh, 'SELECT count() FROM {db}.requests')) === 3, 60_000, 200);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE model = 'chat' AND upstream_model = 'up-model-1'"), 3);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE tokens_in = 13 AND tokens_out = 4'), 2, 'the stream has tokens too');
  // Token timing: the stream's row has all four values, the other rows none.
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE ttft_ms > 0 AND itl_mean_ms > 0 AND itl_p95_ms >= itl_mean_ms AND output_tps > 0 AND tokens_out = 4'), 1);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE ttft_ms IS NULL AND itl_mean_ms IS NULL AND itl_p95_ms IS NULL AND output_tps IS NULL'), 2);
  assert.equal(await count(wh, 'SELECT sum(ttft_count) FROM {db}.requests_1m'), 1, 'rolled up per minute');
  // Cost at the version's prices: 13 input tokens at 2.5 and 4 output tokens at 10 USD per million.
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE round(cost_usd, 10) = 0.0000725'), 2, 'both answers with tokens have their cost');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE cost_usd IS NULL AND tokens_in IS NULL'), 1, 'the failed call has none');
  const hits = await count(wh, 'SELECT count() FROM {db}.requests WHERE position(toString(tuple(*)), {s:String}) > 0', { s: key });
  assert.equal(hits, 0, 'the secret is in no ClickHouse row');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE position(toString(tuple(*)), {s:String}) > 0', { s: 'up-model-1' }), 3, 'the search does see row contents');
});
