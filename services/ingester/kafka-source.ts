/**
 * The Kafka source: a kafkajs consumer group on the telemetry topic, with manual commits
 * (autoCommit off, offsets resolved by hand), broker-side batching (a fetch waits for `minBytes`
 * or `lingerMs`, and returns at most `maxBytes` per partition), a producer for the dead-letter
 * topic, and an admin client that reads the group's lag from the broker.
 */
import type { Admin, Consumer, Producer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { IngesterErrors } from './errors.ts';
import type { BatchHandler, DeadLetter, PartitionLag, Source } from './source.ts';
import { closeWithin, kafkaClient, KafkaSockets } from '../core/kafka-clients.ts';

/** Longest wait for the consumer (leaving its group), producer and admin to disconnect at stop. */
const STOP_DEADLINE_MS = 5000;

/** Options of {@link KafkaSource}. */
export interface KafkaSourceOptions {
  brokers: readonly string[];
  clientId: string;
  groupId: string;
  topic: string;
  dlqTopic: string;
  fromBeginning: boolean;
  /** Most bytes per partition per fetch. */
  maxBytes: number;
  /** The broker waits until this many bytes are ready… */
  minBytes: number;
  /** …or this long. */
  lingerMs: number;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Group session timeout (ms); default 30000. */
  sessionTimeoutMs?: number;
  logger?: Logger;
}

const REBALANCE = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP', 'FENCED_INSTANCE_ID']);

/** The kafkajs error inside `err` that means "the group is rebalancing", if any. */
export function rebalanceError(err: unknown): Error | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (REBALANCE.has(String((e as { type?: unknown }).type))) return e;
  }
  return undefined;
}

/** A Kafka consumer-group source. */
export class KafkaSource implements Source {
  readonly kind = 'kafka' as const;
  private readonly opts: KafkaSourceOptions;
  private readonly log: Logger;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly admin: Admin;
  /** Every socket of the consumer, producer and admin (reconnects included), destroyed at stop. */
  private readonly sockets = new KafkaSockets();
  /** Per partition: the offset after the last commit (or where this assignment started). */
  private readonly position = new Map<number, number>();
  private stopping = false;

  constructor(opts: KafkaSourceOptions) {
    if (!opts?.brokers?.length) throw IngesterErrors.badOptions('kafka source: brokers are required');
    for (const k of ['topic', 'dlqTopic', 'groupId', 'clientId'] as const) {
      if (typeof opts[k] !== 'string' || !opts[k]) throw IngesterErrors.badOptions(`kafka source: ${k} is required`);
    }
    if (opts.topic === opts.dlqTopic) throw IngesterErrors.badOptions('kafka source: dlqTopic must differ from topic');
    this.opts = opts;
    this.log = opts.logger ?? silentLogger();
    const kafka = kafkaClient({
      clientId: opts.clientId, brokers: opts.brokers, connectionTimeoutMs: opts.connectionTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs,
      logger: this.log, retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 }, sockets: this.sockets,
    });
    this.consumer = kafka.consumer({
      groupId: opts.groupId,
      minBytes: opts.minBytes,
      maxBytes: Math.min(opts.maxBytes * 4, 512 * 1024 * 1024),
      maxBytesPerPartition: opts.maxBytes,
      maxWaitTimeInMs: opts.lingerMs,
      sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3000, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 3)),
      // Never restart a consumer we are stopping (a crash racing with disconnect would otherwise
      // reconnect it behind our back).
      retry: { initialRetryTime: 300, retries: 10, restartOnFailure: async () => !this.stopping },
    });
    this.producer = kafka.producer({ allowAutoTopicCreation: true, retry: { initialRetryTime: 300, retries: 5 } });
    this.admin = kafka.admin();
  }

  async start(handler: BatchHandler, onReassign: () => void, onFatal: (err: Error) => void): Promise<void> {
    const { topic, dlqTopic } = this.opts;
    try {
      await this.admin.connect();
      await this.producer.connect();
      const existing = await this.waitForTopic(topic);
      if (!existing.has(dlqTopic)) {
        await this.admin.createTopics({ topics: [{ topic: dlqTopic, numPartitions: 1 }], waitForLeaders: true });
        this.log.info({ topic: dlqTopic }, 'created the dead-letter topic');
      }
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [topic], fromBeginning: this.opts.fromBeginning });
    } catch (err) {
      await this.stop().catch(() => {});
      throw IngesterErrors.sourceFailed(`cannot start consuming ${topic}: ${(err as Error).message}`, { cause: err });
    }
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.position.clear();
      onReassign();
      this.log.info({ assignment: e.payload.memberAssignment }, 'joined the consumer group');
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (e.payload.restart) {
        this.position.clear();
        onReassign();
        this.log.warn({ err: e.payload.error }, 'kafka consumer crashed; restarting');
      } else if (!this.stopping) {
        onFatal(IngesterErrors.sourceFailed(`kafka consumer stopped: ${e.payload.error.message}`, { cause: e.payload.error }));
      }
    });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload, handler),
    });
  }

  /**
   * Waits until the events topic exists (the first gateway creates it, and creates it again after
   * a broker lost its data): an ingester started before that waits instead of failing, saying so
   * every 30 s. Returns the topics the broker has. Throws once a stop begins.
   */
  private async waitForTopic(topic: string): Promise<Set<string>> {
    let said = 0;
    for (;;) {
      const existing = new Set(await this.admin.listTopics());
      if (existing.has(topic)) return existing;
      if (this.stopping) throw new Error(`stopped while waiting for the topic ${topic} to exist`);
      if (Date.now() - said >= 30_000) {
        this.log.info({ topic }, 'waiting for the events topic to exist (a gateway creates it at its first connect)');
        said = Date.now();
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async onBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (this.stopping || !isRunning() || isStale() || batch.messages.length === 0) return;
    const partition = batch.partition;
    if (!this.position.has(partition)) this.position.set(partition, Number(batch.messages[0]!.offset));
    const messages = batch.messages.map((m) => ({ offset: Number(m.offset), value: m.value, key: m.key }));
    try {
      await handler({ source: batch.topic, partition, messages }, {
        heartbeat: () => heartbeat(),
        isRunning: () => isRunning() && !isStale(),
      });
      resolveOffset(batch.lastOffset());
    } catch (err) {
      const rebalance = rebalanceError(err);
      if (rebalance) throw rebalance;
      if (!IngesterErrors.stopped.is(err)) this.log.warn({ err, partition }, 'batch not stored; it will be redelivered from the last commit');
      const from = this.position.get(partition);
      if (from !== undefined && !this.stopping) this.consumer.seek({ topic: batch.topic, partition, offset: String(from) });
    }
  }

  async commit(source: string, partition: number, nextOffset: number): Promise<void> {
    await this.consumer.commitOffsets([{ topic: source, partition, offset: String(nextOffset) }]);
    this.position.set(partition, nextOffset);
  }

  async deadLetter(items: readonly DeadLetter[]): Promise<void> {
    if (items.length === 0) return;
    const now = String(Date.now());
    await this.producer.send({
      topic: this.opts.dlqTopic,
      acks: -1,
      messages: items.map((d) => ({
        key: d.key ?? null,
        value: d.value,
        headers: {
          'mlgate-dlq-reason': d.reason,
          'mlgate-dlq-detail': d.detail,
          'mlgate-source-topic': d.source,
          'mlgate-source-partition': String(d.partition),
          'mlgate-source-offset': String(d.offset),
          'mlgate-dlq-ts': now,
        },
      })),
    });
  }

  pause(): void {
    this.consumer.pause([{ topic: this.opts.topic }]);
  }

  resume(): void {
    this.consumer.resume([{ topic: this.opts.topic }]);
  }

  async lag(): Promise<PartitionLag[]> {
    const { topic, groupId } = this.opts;
    const [ends, groups] = await Promise.all([
      this.admin.fetchTopicOffsets(topic),
      this.admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    const committed = new Map((groups[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    return ends.map((e) => {
      const c = committed.get(e.partition) ?? -1;
      const start = c >= 0 ? c : Number(e.low);
      return { topic, partition: e.partition, lag: Math.max(0, Number(e.high) - start) };
    });
  }

  /**
   * Leaves the group and disconnects, within {@link STOP_DEADLINE_MS}: after a broker restart
   * kafkajs's disconnect can wait forever, so past the deadline the sockets are destroyed (the
   * group then notices the member is gone after its session timeout).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const clean = await closeWithin(STOP_DEADLINE_MS, [
      () => this.consumer.disconnect().catch((err: unknown) => this.log.warn({ err }, 'kafka consumer did not disconnect cleanly')),
      () => this.producer.disconnect(),
      () => this.admin.disconnect(),
    ]);
    if (!clean) this.log.warn({ deadline_ms: STOP_DEADLINE_MS }, 'kafka clients did not disconnect in time; their connections are closed');
    this.sockets.destroyAll();
  }
}
