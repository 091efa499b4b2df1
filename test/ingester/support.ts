/** Helpers for ingester tests: producing events, running an ingester, reading its state. */
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { testKafka } from '../support/infra.ts';
import { sampleEvent } from '../support/events.ts';
import { IngesterSection, type IngesterConfig } from '../../services/ingester/config.ts';
import { KafkaSource, type KafkaSourceOptions } from '../../services/ingester/kafka-source.ts';
import { startIngester, type Ingester } from '../../services/ingester/ingester.ts';
import type { Source } from '../../services/ingester/source.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';

/** `n` valid events as message values, spread over a few models, versions and minutes. */
export function eventValues(n: number, start = Date.now() - 120_000): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify(sampleEvent({
    ts: start + (i % 120_000), model: `m${i % 3}`, version: i % 5 === 0 ? 'v2' : 'v1', role: i % 5 === 0 ? 'canary' : 'stable',
    consumer_id: `c${i % 101}`, latency_ms: (i % 400) / 4, outcome: i % 97 === 0 ? 'timeout' : 'ok',
  }))));
}

/**
 * Produces `values` to `topic`, round-robin over its partitions, in sends of `chunk` messages
 * (a record batch per partition must stay under the broker's 1 MiB limit), waiting `pauseMs`
 * between sends (pacing only, to produce while an ingester runs).
 */
export async function produce(brokers: string[], topic: string, values: readonly Buffer[], partitions = 1, chunk = 1000, pauseMs = 0): Promise<void> {
  const producer = testKafka(brokers, 'mlgate-test-producer').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += chunk) {
      await producer.send({
        topic, acks: -1,
        messages: values.slice(i, i + chunk).map((value, j) => ({ value, partition: (i + j) % partitions })),
      });
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  } finally {
    await producer.disconnect();
  }
}

/** Messages of `topic` committed by `groupId`, and messages in the topic (sums over partitions). */
export async function groupProgress(brokers: string[], groupId: string, topic: string): Promise<{ committed: number; end: number }> {
  const admin = testKafka(brokers, 'mlgate-test-admin').admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [group] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = (group?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
    return { committed, end: ends.reduce((s, e) => s + Number(e.high), 0) };
  } finally {
    await admin.disconnect();
  }
}

/** Ingester config for a test: unique group, small linger so tests are quick. */
export function testIngesterConfig(topics: { events: string; dlq: string }, over: Record<string, unknown> = {}): IngesterConfig {
  return IngesterSection.parse({
    topic: topics.events, dlqTopic: topics.dlq, groupId: `g-${topics.events}`, lagIntervalMs: 500,
    batch: { lingerMs: 200, minBytes: 1 }, retry: { initialMs: 100, maxMs: 1000 }, ...over,
  });
}

/** A Kafka source for `cfg`. */
export function testKafkaSource(brokers: string[], cfg: IngesterConfig): KafkaSource {
  return new KafkaSource(testKafkaSourceOptions(brokers, cfg));
}

/** The options {@link testKafkaSource} uses (to add a logger). */
export function testKafkaSourceOptions(brokers: string[], cfg: IngesterConfig): KafkaSourceOptions {
  return {
    brokers, clientId: 'mlgate-test-ingester', groupId: cfg.groupId, topic: cfg.topic, dlqTopic: cfg.dlqTopic,
    fromBeginning: true, maxBytes: cfg.batch.maxBytes, minBytes: cfg.batch.minBytes, lingerMs: cfg.batch.lingerMs,
  };
}

/** Starts an in-process ingester, stopped when the test ends. */
export async function runIngester(t: TestContext, wh: Warehouse, cfg: IngesterConfig, source: Source): Promise<{ ingester: Ingester; registry: Registry }> {
  const registry = new Registry();
  const ingester = await startIngester({ config: cfg, warehouse: wh, source, registry });
  t.after(() => ingester.stop());
  return { ingester, registry };
}

/** Value of a metric (summed over its label sets) in a registry or in Prometheus text. */
export async function metric(from: Registry | string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = typeof from === 'string' ? from : await from.metrics();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
