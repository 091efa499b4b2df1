/** Helpers for the telemetry tests that read a topic back. */
import type { Kafka } from 'kafkajs';
import { uniqueName } from '../../support/infra.ts';

/** Exact number of messages in `topic` (sum of high minus low watermarks). */
export async function topicCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(topic);
    return offs.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes topics (best effort), for topics a sink created by itself. */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics });
  } catch { /* already gone */ } finally {
    await admin.disconnect();
  }
}

/** One message as read back. */
export interface ReadMessage {
  key: string;
  value: string;
  partition: number;
  headers: Record<string, string>;
}

/**
 * Reads `topic` from the beginning, handing each message to `onMessage`, until `done()` says so
 * or `timeoutMs` passes; then `onTimeout` decides (throw, or return what was read).
 */
export async function consumeFromStart(
  kafka: Kafka, topic: string, onMessage: (m: ReadMessage) => void, done: () => boolean, timeoutMs: number, onTimeout: () => void,
): Promise<void> {
  const consumer = kafka.consumer({ groupId: uniqueName('g_read'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((r) => { finish = r; });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
          onMessage({ key: m.key?.toString() ?? '', value: m.value?.toString() ?? '', partition: batch.partition, headers });
        }
        if (done()) finish();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([finished.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), timeoutMs); })]);
    clearTimeout(timer);
    if (timedOut) onTimeout();
  } finally {
    await consumer.disconnect();
  }
}

/** Reads `expected` messages of `topic` from the beginning (throws after `timeoutMs`). */
export async function readTopic(kafka: Kafka, topic: string, expected: number, timeoutMs = 60_000): Promise<ReadMessage[]> {
  const out: ReadMessage[] = [];
  await consumeFromStart(kafka, topic, (m) => out.push(m), () => out.length >= expected, timeoutMs, () => {
    throw new Error(`read ${out.length}/${expected} messages of ${topic} in ${timeoutMs} ms`);
  });
  return out;
}
