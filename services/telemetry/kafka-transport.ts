/**
 * The Kafka side of the Kafka sink: one idempotent kafkajs producer (acks=all, one request in
 * flight, unbounded retries with a short backoff, so a batch is retried with its sequence numbers
 * and the broker drops a retried duplicate), creation of the events topic when it is missing,
 * and the message form: key = event_id, value = the event JSON, header `schema_version`.
 */
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import type { Logger } from '../core/log.ts';
import { SCHEMA_VERSION } from './event.ts';
import type { TelemetryMetrics } from './metrics.ts';
import type { EncodedEvent } from './queue.ts';

/** Options of {@link KafkaTransport}. */
export interface KafkaTransportOptions {
  brokers: readonly string[];
  clientId: string;
  topic: string;
  /** Partitions when the topic has to be created. */
  partitions: number;
  /** Replication factor when the topic has to be created; default: the broker's. */
  replicationFactor?: number | undefined;
  connectionTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  logger: Logger;
  metrics?: TelemetryMetrics | undefined;
  /** When true, kafkajs's own error lines go to debug (the caller already reported the outage). */
  quiet: () => boolean;
}

const HEADERS = Object.freeze({ schema_version: String(SCHEMA_VERSION) });

/** True for a kafkajs error that retrying cannot fix (the producer retries the others itself). */
export function nonRetriable(err: unknown): boolean {
  const e = err as { name?: string; retriable?: boolean } | undefined;
  return e?.name === 'KafkaJSNonRetriableError' || e?.retriable === false;
}

/** What the Kafka sink needs from Kafka (in this thread, or in a worker thread). */
export interface Transport {
  /** Connects and makes sure the topic exists. Throws when Kafka is unreachable. */
  connect(): Promise<void>;
  /** Resolves once every replica acknowledged the batch. */
  send(events: readonly EncodedEvent[]): Promise<void>;
  /** Disconnects; a send still retrying then fails. */
  disconnect(): Promise<void>;
}

/** Producer and admin for the events topic. */
export class KafkaTransport implements Transport {
  private readonly opts: KafkaTransportOptions;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly log: Logger;

  constructor(opts: KafkaTransportOptions) {
    this.opts = opts;
    this.log = opts.logger;
    const kafkaLog = opts.logger.child({ lib: 'kafkajs' });
    this.kafka = new Kafka({
      clientId: opts.clientId, brokers: [...opts.brokers],
      connectionTimeout: opts.connectionTimeoutMs ?? 3000, requestTimeout: opts.requestTimeoutMs ?? 30000,
      logLevel: logLevel.ERROR,
      // kafkajs repeats its connection errors on every retry: while quiet they go to debug.
      logCreator: () => ({ namespace, log }) => kafkaLog[opts.quiet() ? 'debug' : 'warn']({ namespace, error: log.error }, log.message),
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    this.producer = this.kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  /** Connects the producer and creates the topic if it is missing. Throws when Kafka is unreachable. */
  async connect(): Promise<void> {
    await this.producer.connect();
    await this.ensureTopic();
  }

  /** Sends one batch and resolves once every replica acknowledged it. */
  async send(events: readonly EncodedEvent[]): Promise<void> {
    const t0 = process.hrtime.bigint();
    await this.producer.send({
      topic: this.opts.topic, acks: -1,
      messages: events.map((e) => ({ key: e.key, value: e.value, headers: HEADERS })),
    });
    this.opts.metrics?.observeSend(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  /** Disconnects; a send still retrying then fails. */
  async disconnect(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
  }

  private async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (topics.includes(this.opts.topic)) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: this.opts.topic, numPartitions: this.opts.partitions, ...(this.opts.replicationFactor ? { replicationFactor: this.opts.replicationFactor } : {}) }],
      });
      this.log.info({ topic: this.opts.topic, partitions: this.opts.partitions }, 'created the telemetry topic');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
