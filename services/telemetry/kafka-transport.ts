/**
 * The Kafka side of the Kafka sink: an idempotent kafkajs producer (acks=all, one request in
 * flight, a bounded retry of a few seconds so that a batch is retried with its own sequence
 * numbers and the broker drops a retried duplicate, and so that the sink then sees the error and
 * decides: kafka-errors.ts), creation of the events topic when it is missing (at connect, and again
 * whenever a broker says it does not host it), and the message form: key = event_id, value = the
 * event JSON, header `schema_version`.
 *
 * A producer session is one kafkajs client with one producer (one producer id). {@link reset}
 * ends it: the next connect starts a new session with a new producer id, which is how a broken
 * sequence or epoch is recovered from. Every session's sockets are recorded and destroyed when it
 * ends, so a kafkajs disconnect that never finishes (after a broker restart) cannot hold a stop.
 */
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { closeWithin, KafkaSockets } from '../core/kafka-clients.ts';
import type { Logger } from '../core/log.ts';
import { SCHEMA_VERSION } from './event.ts';
import type { SendObserver } from './metrics.ts';
import type { EncodedEvent } from './queue.ts';
import type { PartitionOffsets } from './resend-window.ts';

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
  metrics?: SendObserver | undefined;
  /** When true, kafkajs's own error lines go to debug (the caller already reported the outage). */
  quiet: () => boolean;
}

const HEADERS = Object.freeze({ schema_version: String(SCHEMA_VERSION) });

/** Longest wait for kafkajs to disconnect a session before its sockets are destroyed. */
export const CLOSE_DEADLINE_MS = 3000;

/**
 * kafkajs's retry of one send: about 5 s (100 ms doubling to 1 s, 8 retries), within which a
 * retried batch keeps its sequence numbers. Longer outages are the sink's business (spill).
 */
const SEND_RETRY = { retries: 8, initialRetryTime: 100, maxRetryTime: 1000 } as const;

/** What the Kafka sink needs from Kafka (in this thread, or in a worker thread). */
export interface Transport {
  /** Connects (starting a new producer session if there is none) and makes sure the topic exists. Throws when Kafka is unreachable. */
  connect(): Promise<void>;
  /**
   * Resolves once every replica acknowledged the batch, with the base offset it got on each
   * partition. Rejects with kafkajs's error (see kafka-errors.ts).
   */
  send(events: readonly EncodedEvent[]): Promise<PartitionOffsets>;
  /** Ends the producer session (disconnect within a deadline, sockets destroyed); the next connect gets a new producer id. */
  reset(): Promise<void>;
  /** Ends the session for good; a send still retrying then fails. Finishes within about {@link CLOSE_DEADLINE_MS}. */
  disconnect(): Promise<void>;
}

interface Session {
  kafka: Kafka;
  sockets: KafkaSockets;
  producer: Producer;
  connected: boolean;
}

/** Producer and admin for the events topic. */
export class KafkaTransport implements Transport {
  private readonly opts: KafkaTransportOptions;
  private readonly log: Logger;
  private session: Session | undefined;
  private closed = false;
  /** Producer sessions started (1 + resets that were followed by a connect). */
  sessions = 0;

  constructor(opts: KafkaTransportOptions) {
    this.opts = opts;
    this.log = opts.logger;
  }

  /** Connects the producer and creates the topic if it is missing. Throws when Kafka is unreachable. */
  async connect(): Promise<void> {
    const s = this.current();
    if (!s.connected) {
      await s.producer.connect();
      s.connected = true;
    }
    await this.ensureTopic(s);
  }

  /** Sends one batch and resolves once every replica acknowledged it, with its base offset per partition. */
  async send(events: readonly EncodedEvent[]): Promise<PartitionOffsets> {
    const s = this.current();
    if (!s.connected) await this.connect();
    const t0 = process.hrtime.bigint();
    const meta = await s.producer.send({
      topic: this.opts.topic, acks: -1,
      messages: events.map((e) => ({ key: e.key, value: e.value, headers: HEADERS })),
    });
    this.opts.metrics?.observeSend(Number(process.hrtime.bigint() - t0) / 1e9);
    return meta.filter((m) => m.baseOffset !== undefined).map((m) => [m.partition, Number(m.baseOffset)] as const);
  }

  /** Ends the producer session; the next connect or send starts a new one. */
  async reset(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await this.end(s);
  }

  /** Disconnects for good, within {@link CLOSE_DEADLINE_MS}; a send still retrying then fails. */
  async disconnect(): Promise<void> {
    this.closed = true;
    await this.reset();
  }

  private current(): Session {
    if (this.session) return this.session;
    if (this.closed) throw new Error('telemetry Kafka transport is closed');
    const sockets = new KafkaSockets();
    const kafkaLog = this.opts.logger.child({ lib: 'kafkajs' });
    const quiet = this.opts.quiet;
    const kafka = new Kafka({
      clientId: this.opts.clientId, brokers: [...this.opts.brokers],
      connectionTimeout: this.opts.connectionTimeoutMs ?? 3000, requestTimeout: this.opts.requestTimeoutMs ?? 30000,
      logLevel: logLevel.ERROR, socketFactory: sockets.factory,
      // kafkajs repeats its connection errors on every retry: while quiet they go to debug.
      logCreator: () => ({ namespace, log }) => kafkaLog[quiet() ? 'debug' : 'warn']({ namespace, error: log.error }, log.message),
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const producer = kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner, retry: SEND_RETRY,
    });
    this.sessions++;
    this.session = { kafka, sockets, producer, connected: false };
    return this.session;
  }

  private async end(s: Session): Promise<void> {
    const clean = await closeWithin(CLOSE_DEADLINE_MS, [() => s.producer.disconnect()]);
    if (!clean) this.log.warn({ deadline_ms: CLOSE_DEADLINE_MS }, 'kafka producer did not disconnect in time; its connections are closed');
    s.sockets.destroyAll();
  }

  private async ensureTopic(s: Session): Promise<void> {
    const admin = s.kafka.admin();
    try {
      await admin.connect();
      const topics = await admin.listTopics();
      if (topics.includes(this.opts.topic)) return;
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: this.opts.topic, numPartitions: this.opts.partitions, ...(this.opts.replicationFactor ? { replicationFactor: this.opts.replicationFactor } : {}) }],
        });
      } catch (err) {
        // Another gateway created it meanwhile.
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS' && !/already exists/i.test(String((err as Error).message))) throw err;
      }
      this.log.info({ topic: this.opts.topic, partitions: this.opts.partitions }, 'created the telemetry topic');
    } finally {
      await closeWithin(CLOSE_DEADLINE_MS, [() => admin.disconnect()]);
    }
  }
}
