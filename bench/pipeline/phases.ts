/**
 * The measured phases of `npm run bench:pipeline`: producing, consuming alone (Kafka baseline),
 * inserting alone (ClickHouse baseline), the full ingester, and live freshness.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { Registry } from 'prom-client';
import { IngesterSection, type IngesterConfig } from '../../services/ingester/config.ts';
import { startIngester, type Ingester } from '../../services/ingester/ingester.ts';
import { KafkaSource } from '../../services/ingester/kafka-source.ts';
import type { Source } from '../../services/ingester/source.ts';
import { REQUEST_COLUMNS, requestCompactLine } from '../../services/warehouse/request-rows.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { benchEvent } from './events.ts';

/** A kafkajs client for the benchmark. */
export function benchKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'mlgate-bench', brokers, logLevel: logLevel.ERROR, retry: { retries: 5 } });
}

/** Produces `n` events (request time = send time), keyed by event_id like the gateway's sink. Returns JSON bytes sent. */
export async function produceEvents(kafka: Kafka, topic: string, n: number, ratePerSec = Infinity): Promise<number> {
  const producer = kafka.producer();
  await producer.connect();
  let bytes = 0;
  const CHUNK = 1000;
  const started = Date.now();
  try {
    for (let i = 0; i < n; i += CHUNK) {
      if (Number.isFinite(ratePerSec)) {
        const due = started + (i / ratePerSec) * 1000;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      const now = Date.now();
      const messages = [];
      for (let j = i; j < Math.min(n, i + CHUNK); j++) {
        const e = benchEvent(j, now);
        const value = Buffer.from(JSON.stringify(e));
        bytes += value.length;
        messages.push({ key: e.event_id, value });
      }
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
  return bytes;
}

/** Consumes `n` messages with a bare kafkajs consumer (no decoding): the Kafka side's ceiling. */
export async function consumeOnly(kafka: Kafka, topic: string, n: number, cfg: IngesterConfig): Promise<{ seconds: number }> {
  const consumer = kafka.consumer({
    groupId: `bench-raw-${topic}`, minBytes: cfg.batch.minBytes, maxBytesPerPartition: cfg.batch.maxBytes,
    maxBytes: cfg.batch.maxBytes * 4, maxWaitTimeInMs: cfg.batch.lingerMs,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let first = 0;
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!first) first = performance.now();
        seen += batch.messages.length;
        if (seen >= n) resolve(performance.now());
      },
    });
  });
  const end = await done;
  await consumer.disconnect();
  return { seconds: (end - first) / 1000 };
}

/**
 * Inserts `n` pre-serialized events (the ingester's row format) in batches of `batch` rows: the
 * ClickHouse side's ceiling.
 */
export async function insertOnly(wh: Warehouse, n: number, batch: number): Promise<{ seconds: number }> {
  const now = Date.now();
  const bodies: Buffer[] = [];
  for (let i = 0; i < n; i += batch) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) lines.push(requestCompactLine(benchEvent(j, now), { topic: 'bench', partition: 0, offset: j }));
    bodies.push(Buffer.from(lines.join('\n')));
  }
  const t0 = performance.now();
  for (const [k, body] of bodies.entries()) {
    await wh.insertJsonLines('requests', body, { dedupToken: `bench:0:${k}`, format: 'JSONCompactEachRow', columns: REQUEST_COLUMNS });
  }
  return { seconds: (performance.now() - t0) / 1000 };
}

/** Commit times recorded by {@link timedSource}: per partition, ascending next offsets. */
export type CommitLog = Map<number, Array<{ next: number; at: number }>>;

/** Wraps a source to record when each commit happened (rows are queryable by then) and when the first batch arrived. */
export function timedSource(inner: Source): { source: Source; commits: CommitLog; firstBatchAt: () => number } {
  const commits: CommitLog = new Map();
  let first = 0;
  const source: Source = {
    kind: inner.kind,
    start: (handler, onReassign, onFatal) => inner.start(async (batch, ctl) => {
      if (!first) first = Date.now();
      await handler(batch, ctl);
    }, onReassign, onFatal),
    commit: async (s, p, next) => {
      await inner.commit(s, p, next);
      const list = commits.get(p) ?? [];
      list.push({ next, at: Date.now() });
      commits.set(p, list);
    },
    deadLetter: (items) => inner.deadLetter(items),
    pause: () => inner.pause(),
    resume: () => inner.resume(),
    lag: () => inner.lag(),
    stop: () => inner.stop(),
  };
  return { source, commits, firstBatchAt: () => first };
}

/** Messages committed by `groupId` on `topic`. */
export async function committed(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [g] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (g?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

/** Starts the real ingester (default batching unless overridden) on `topic`. */
export async function startBenchIngester(brokers: string[], wh: Warehouse, topic: string, over: Record<string, unknown> = {}):
  Promise<{ ingester: Ingester; cfg: IngesterConfig; commits: CommitLog; firstBatchAt: () => number }> {
  const cfg = IngesterSection.parse({ topic, dlqTopic: `${topic}.dlq`, groupId: `bench-${topic}`, ...over });
  const kafkaSource = new KafkaSource({
    brokers, clientId: 'mlgate-bench-ingester', groupId: cfg.groupId, topic: cfg.topic, dlqTopic: cfg.dlqTopic,
    fromBeginning: true, maxBytes: cfg.batch.maxBytes, minBytes: cfg.batch.minBytes, lingerMs: cfg.batch.lingerMs,
  });
  const timed = timedSource(kafkaSource);
  const ingester = await startIngester({ config: cfg, warehouse: wh, source: timed.source, registry: new Registry() });
  return { ingester, cfg, commits: timed.commits, firstBatchAt: timed.firstBatchAt };
}

/** When the row at `offset` of `partition` became queryable: the first commit past it. */
export function committedAt(commits: CommitLog, partition: number, offset: number): number | undefined {
  const list = commits.get(partition);
  if (!list) return undefined;
  let lo = 0;
  let hi = list.length - 1;
  let found: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.next > offset) {
      found = list[mid]!.at;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  return found;
}

/** The q-quantile (0..1) of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
