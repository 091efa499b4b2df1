/**
 * The Kafka source: a kafkajs consumer group on the telemetry topic, with manual commits
 * (autoCommit off, offsets resolved by hand), broker-side batching (a fetch waits for `minBytes`
 * or `lingerMs`, and returns at most `maxBytes` per partition), a producer for the dead-letter
 * topic, and an admin client that reads the group's lag from the broker.
 */
import type { Admin, Consumer, Producer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { errorChain } from '../telemetry/kafka-errors.ts';
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

/**
 * Runs `op` again while it fails with an error kafkajs marks retriable (a topic just created on a
 * broker that restarted, whose metadata does not list it yet: UNKNOWN_TOPIC_OR_PARTITION), with a
 * growing pause, until `deadline` (ms since the epoch) or `stopped()`; any other error at once.
 */
export async function retryRetriable<T>(op: () => Promise<T>, deadline: number, stopped: () => boolean, pauseMs = 200): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const retriable = errorChain(err).some((e) => (e as { retriable?: unknown }).retriable === true);
      if (!retriable || stopped() || Date.now() + pauseMs * attempt > deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2000, pauseMs * attempt)));
    }
  }
}

/**
 * kafkajs errors that mean "the broker is not there right now" (restarting, electing a group
 * coordinator, unreachable). kafkajs restarts its consumer after some of them, but stops it for
 * good after others (a group coordinator not found once the broker comes back is
 * non-retriable to kafkajs): the source then restarts the consumer itself.
 */
const BROKER_UNAVAILABLE = new Set([
  'KafkaJSGroupCoordinatorNotFound', 'KafkaJSNoBrokerAvailableError', 'KafkaJSConnectionError', 'KafkaJSConnectionClosedError',
  'KafkaJSNumberOfRetriesExceeded', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound', 'KafkaJSMetadataNotLoaded', 'KafkaJSLockTimeout',
]);
const BROKER_UNAVAILABLE_TYPES = new Set(['COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION']);

/** True when `err` (or an error it wraps) says the broker is unavailable for now, not that something is wrong. */
export function brokerUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (BROKER_UNAVAILABLE.has(e.name) || BROKER_UNAVAILABLE_TYPES.has(String((e as { type?: unknown }).type))) return true;
  }
  return false;
}

/** Longest wait between two restarts of a consumer that kafkajs stopped while the broker was away. */
const MAX_RESTART_BACKOFF_MS = 10_000;

/** A Kafka consumer-group source. */
export class KafkaSource implements Source {
  readonly kind = 'kafka' as const;
  private readonly opts: KafkaSourceOptions;
  private readonly log: Logger;
  private consumer: Consumer;
  private readonly makeConsumer: () => Consumer;
  /** Consumers restarted by the source after kafkajs stopped them (broker away). */
  restarts = 0;
  private readonly producer: Producer;
  private readonly admin: Admin;
  /** Every socket of the consumer, producer and admin (reconnects included), destroyed at stop. */
  private readonly sockets = new KafkaSockets();
  /** Per partition: the offset after the last commit (or where this assignment started). */
  private readonly position = new Map<number, number>();
  private stopping = false;
  private paused = false;

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
    this.makeConsumer = () => kafka.consumer({
      groupId: opts.groupId,
      minBytes: opts.minBytes,
      maxBytes: Math.min(opts.maxBytes * 4, 512 * 1024 * 1024),
      maxBytesPerPartition: opts.maxBytes,
      maxWaitTimeInMs: opts.lingerMs,
      sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3000, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 3)),
      // kafkajs's own restart reuses the crashed consumer's cluster state, and after a broker
      // restart that consumer could stay stuck on "Closed connection" for good (seen over
      // minutes in the 10-kill test while new clients connected fine): the source replaces a
      // crashed consumer with a new one instead (restartConsumer).
      retry: { initialRetryTime: 300, retries: 10, restartOnFailure: async () => false },
    });
    this.consumer = this.makeConsumer();
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
        // Right after a broker restart the new topic's metadata can lag its creation (kafkajs then
        // throws a retriable UNKNOWN_TOPIC_OR_PARTITION while waiting for leaders): try again.
        await retryRetriable(
          () => this.admin.createTopics({ topics: [{ topic: dlqTopic, numPartitions: 1 }], waitForLeaders: true }),
          Date.now() + 30_000, () => this.stopping,
        );
        this.log.info({ topic: dlqTopic }, 'created the dead-letter topic');
      }
      await this.runConsumer(this.consumer, handler, onReassign, onFatal);
    } catch (err) {
      await this.stop().catch(() => {});
      throw IngesterErrors.sourceFailed(`cannot start consuming ${topic}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Connects `consumer`, subscribes, wires its events and runs it. */
  private async runConsumer(consumer: Consumer, handler: BatchHandler, onReassign: () => void, onFatal: (err: Error) => void): Promise<void> {
    await consumer.connect();
    await consumer.subscribe({ topics: [this.opts.topic], fromBeginning: this.opts.fromBeginning });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.position.clear();
      onReassign();
      this.log.info({ assignment: e.payload.memberAssignment }, 'joined the consumer group');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (consumer !== this.consumer || this.stopping) return;
      const err = e.payload.error as Error & { retriable?: boolean };
      if (err.retriable === true || brokerUnavailable(err)) {
        // The broker went away or is restarting: a new consumer (new connections and metadata).
        this.position.clear();
        onReassign();
        void this.restartConsumer(e.payload.error, handler, onReassign, onFatal);
      } else {
        onFatal(IngesterErrors.sourceFailed(`kafka consumer stopped: ${e.payload.error.message}`, { cause: e.payload.error }));
      }
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload, handler),
    });
  }

  /**
   * Replaces a consumer that crashed while the broker was unavailable, retrying with
   * a backoff (1 s doubling to 10 s) until a new one runs or the source stops. Only an error that
   * is not about the broker's availability is fatal.
   */
  private async restartConsumer(cause: Error, handler: BatchHandler, onReassign: () => void, onFatal: (err: Error) => void): Promise<void> {
    let backoff = 1000;
    this.log.warn({ err: cause }, 'kafka consumer crashed (broker unavailable); starting a new one');
    while (!this.stopping) {
      await new Promise((r) => setTimeout(r, backoff));
      if (this.stopping) return;
      const old = this.consumer;
      await closeWithin(STOP_DEADLINE_MS, [() => old.disconnect()]);
      const next = this.makeConsumer();
      this.consumer = next;
      try {
        await this.runConsumer(next, handler, onReassign, onFatal);
        if (this.paused) next.pause([{ topic: this.opts.topic }]);
        this.restarts++;
        this.log.info({ restarts: this.restarts }, 'kafka consumer restarted');
        return;
      } catch (err) {
        if (!brokerUnavailable(err)) {
          onFatal(IngesterErrors.sourceFailed(`kafka consumer could not be restarted: ${(err as Error).message}`, { cause: err }));
          return;
        }
        this.log.warn({ err, retry_in_ms: Math.min(backoff * 2, MAX_RESTART_BACKOFF_MS) }, 'kafka consumer could not be restarted yet; retrying');
        backoff = Math.min(backoff * 2, MAX_RESTART_BACKOFF_MS);
      }
    }
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
    this.paused = true;
    this.consumer.pause([{ topic: this.opts.topic }]);
  }

  resume(): void {
    this.paused = false;
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
