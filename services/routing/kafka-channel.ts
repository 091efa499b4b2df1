/**
 * The Kafka control channel: routing states on the compacted topic `mlgate.control.v1`
 * (key = model, value = the routing state as JSON), the distributed-mode adapter of the
 * {@link ControlChannel} port.
 *
 * - `publish`: validates the state, sends it keyed by model with acks=all from an idempotent
 *   producer (one request in flight, so a model's states keep their order), resolves once the
 *   broker has it. It is not applied anywhere by publishing; every channel (this one included)
 *   sees it come back through its consumer.
 * - One consumer per channel, in a group of its own (no offsets are committed), reads the topic
 *   from the beginning for as long as the channel is open. Each message is validated with the
 *   routing-state schema; a bad one (not JSON, invalid state, key not its model) is logged with
 *   the reason and its position and skipped, never applied. A tombstone (null value) forgets the
 *   model.
 * - `readToEnd`: fetches the topic's end offsets at call time (admin.fetchTopicOffsets) and waits
 *   until the consumer has read up to them, then returns the latest state per model. "Latest" is
 *   the highest generation seen (ties: the later message), so a stale state republished after a
 *   newer one cannot win a restart.
 * - `subscribe`: the handler gets every valid state the consumer reads from then on.
 *
 * The topic is created when missing: 1 partition (one total order of control messages),
 * `cleanup.policy=compact` with a short `min.compaction.lag.ms` and 10-minute segments, so the
 * log keeps about one state per model. Joining the consumer group costs the broker's
 * `group.initial.rebalance.delay.ms` (3 s by default, 0 in the test broker) at start.
 *
 * Errors: the codes below are the Kafka adapter's own (`MLG_CONTROL_*`, the routing package's prefix).
 *
 * The mechanics are generic ({@link KafkaStateChannel}: any keyed, generation-ordered state on a
 * compacted topic); the consumer table of the gateways' edge travels the same way on its own
 * topic (services/routing/consumer-state.ts).
 */
import { randomBytes } from 'node:crypto';
import { Partitioners, type Kafka, type Admin, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs';
import { defineError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import type { ControlChannel } from './channel.ts';
import { ControlErrors } from './errors.ts';
import { EPOCH_KEY, EpochFence, parseEpochAnnouncement, parseRoutingState, type RoutingState } from './state.ts';
import { closeWithin, kafkaClient, KafkaSockets } from '../core/kafka-clients.ts';

/** Longest wait for kafkajs to disconnect at close before the channel's sockets are destroyed. */
const CLOSE_DEADLINE_MS = 3000;

/** Errors of the Kafka control channel. */
export const KafkaControlErrors = {
  readTimeout: defineError('MLG_CONTROL_READ_TIMEOUT'),
  kafkaFailed: defineError('MLG_CONTROL_KAFKA_FAILED'),
  badOptions: defineError('MLG_CONTROL_BAD_OPTIONS'),
} as const;

/** Default control topic. */
export const DEFAULT_CONTROL_TOPIC = 'mlgate.control.v1';

/** Options of {@link KafkaControlChannel}. */
export interface KafkaControlChannelOptions {
  brokers: readonly string[];
  /** kafkajs client id (the consumer group is `<clientId>-control-<random>`). */
  clientId: string;
  /** Compacted topic; default `mlgate.control.v1`. */
  topic?: string;
  logger?: Logger;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Longest `readToEnd` waits for the consumer to reach the end offsets (default 30 s). */
  readTimeoutMs?: number;
  /** How long a fetch waits for new messages: the latency of live updates (default 100 ms). */
  maxWaitMs?: number;
}

/** How a {@link KafkaStateChannel} reads and orders its states. */
export interface StateCodec<T> {
  /** What a state is, for messages (e.g. `routing state`). */
  readonly what: string;
  /** Validates a decoded message value; throws with the reason. `key` is the message key. */
  parse(value: unknown, key: string): T;
  /** The message key of a state (compaction keeps the last per key). */
  keyOf(state: T): string;
  /** Ordering: the highest generation per key is the latest. */
  generationOf(state: T): number;
}

const ROUTING_CODEC: StateCodec<RoutingState> = {
  what: 'routing state',
  parse: (value, key) => {
    const state = parseRoutingState(value);
    if (state.model !== key) throw new Error(`key ${JSON.stringify(key)} is not the state's model ${JSON.stringify(state.model)}`);
    return state;
  },
  keyOf: (s) => s.model,
  generationOf: (s) => s.generation,
};

interface Waiter {
  ends: Map<number, number>;
  resolve: () => void;
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Keyed states on a compacted topic, the latest per key by generation; see the module comment. */
export class KafkaStateChannel<T> {
  /** The control topic. */
  readonly topic: string;
  private readonly opts: KafkaControlChannelOptions;
  protected readonly log: Logger;
  private readonly kafka: Kafka;
  /** Every socket the channel's kafkajs client opened, destroyed at close. */
  private readonly sockets = new KafkaSockets();
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly admin: Admin;
  private readonly latest = new Map<string, T>();
  private readonly handlers = new Set<(state: T) => void>();
  private readonly codec: StateCodec<T>;
  /** Per partition: the offset after the last message read. */
  private readonly position = new Map<number, number>();
  private waiters: Waiter[] = [];
  private starting: Promise<void> | undefined;
  private closed = false;
  /** Messages skipped because they were not valid routing states. */
  skipped = 0;
  /** States refused by {@link admit} (a deposed controller's). */
  fenced = 0;

  constructor(opts: KafkaControlChannelOptions, codec: StateCodec<T>) {
    this.codec = codec;
    if (!opts?.brokers?.length) throw KafkaControlErrors.badOptions('kafka control channel: brokers are required');
    if (typeof opts.clientId !== 'string' || !opts.clientId) throw KafkaControlErrors.badOptions('kafka control channel: clientId is required');
    const topic = opts.topic ?? DEFAULT_CONTROL_TOPIC;
    if (!TOPIC_NAME.test(topic)) throw KafkaControlErrors.badOptions(`kafka control channel: topic ${JSON.stringify(topic)} is not a Kafka topic name`);
    for (const k of ['readTimeoutMs', 'maxWaitMs', 'connectionTimeoutMs', 'requestTimeoutMs'] as const) {
      const v = opts[k];
      if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw KafkaControlErrors.badOptions(`kafka control channel: ${k} must be a positive integer`);
    }
    this.opts = opts;
    this.topic = topic;
    this.log = opts.logger ?? silentLogger();
    this.kafka = kafkaClient({
      clientId: opts.clientId, brokers: opts.brokers, connectionTimeoutMs: opts.connectionTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs,
      logger: this.log, retry: { initialRetryTime: 200, retries: 8 }, sockets: this.sockets,
    });
    this.producer = this.kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner, retry: { initialRetryTime: 200, retries: 8 },
    });
    this.consumer = this.kafka.consumer({
      groupId: `${opts.clientId}-control-${randomBytes(6).toString('hex')}`,
      maxWaitTimeInMs: opts.maxWaitMs ?? 100,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      retry: { initialRetryTime: 200, retries: 10 },
    });
    this.admin = this.kafka.admin();
  }

  async publish(state: T): Promise<void> {
    if (this.closed) throw ControlErrors.channelClosed('the control channel is closed');
    const key = this.codec.keyOf(state);
    const valid = this.codec.parse(state, key);
    await this.start();
    try {
      await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key, value: JSON.stringify(valid) }] });
    } catch (err) {
      throw KafkaControlErrors.kafkaFailed(`cannot publish the ${this.codec.what} of ${key} to ${this.topic}: ${(err as Error).message}`, { cause: err });
    }
  }

  subscribe(handler: (state: T) => void): () => void {
    this.handlers.add(handler);
    // Live updates need the consumer running; a failure to start is logged and retried by readToEnd/publish.
    this.start().catch((err: unknown) => this.log.error({ err, topic: this.topic }, 'control channel could not start consuming'));
    return () => { this.handlers.delete(handler); };
  }

  async readToEnd(): Promise<T[]> {
    if (this.closed) throw ControlErrors.channelClosed('the control channel is closed');
    await this.start();
    let offsets: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
    try {
      offsets = await this.admin.fetchTopicOffsets(this.topic);
    } catch (err) {
      throw KafkaControlErrors.kafkaFailed(`cannot fetch the end offsets of ${this.topic}: ${(err as Error).message}`, { cause: err });
    }
    const ends = new Map<number, number>();
    for (const o of offsets) if (Number(o.high) > Number(o.low)) ends.set(o.partition, Number(o.high));
    if (!this.reached(ends)) {
      const timeoutMs = this.opts.readTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = { ends, resolve: () => {} };
      try {
        await new Promise<void>((resolve, reject) => {
          waiter.resolve = resolve;
          this.waiters.push(waiter);
          timer = setTimeout(() => reject(KafkaControlErrors.readTimeout(
            `read ${this.topic} to offsets ${JSON.stringify(Object.fromEntries(ends))} not done after ${timeoutMs} ms (at ${JSON.stringify(Object.fromEntries(this.position))})`,
          )), timeoutMs);
          timer.unref();
        });
      } finally {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      }
    }
    return [...this.latest.values()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    // A consumer caught re-joining its group after a broker restart can take kafkajs's disconnect
    // past any stop deadline (and its sockets keep the process alive): close within a deadline,
    // then destroy whatever sockets are left.
    const clean = await closeWithin(CLOSE_DEADLINE_MS, [async () => {
      await this.starting?.catch(() => undefined);
      await this.consumer.disconnect().catch(() => undefined);
      await this.producer.disconnect().catch(() => undefined);
      await this.admin.disconnect().catch(() => undefined);
    }]);
    if (!clean) this.log.warn({ deadline_ms: CLOSE_DEADLINE_MS, topic: this.topic }, 'control channel did not disconnect in time; its connections are closed');
    this.sockets.destroyAll();
  }

  private reached(ends: ReadonlyMap<number, number>): boolean {
    for (const [p, end] of ends) if ((this.position.get(p) ?? 0) < end) return false;
    return true;
  }

  private start(): Promise<void> {
    if (this.closed) return Promise.reject(ControlErrors.channelClosed('the control channel is closed'));
    this.starting ??= this.connect().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async connect(): Promise<void> {
    try {
      await this.admin.connect();
      await this.ensureTopic();
      await this.producer.connect();
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      this.consumer.on(this.consumer.events.CRASH, (e) => {
        this.log.warn({ err: e.payload.error, restart: e.payload.restart, topic: this.topic }, 'control channel consumer crashed');
      });
      await this.consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch: (p) => this.onBatch(p) });
    } catch (err) {
      await this.consumer.disconnect().catch(() => undefined);
      await this.producer.disconnect().catch(() => undefined);
      await this.admin.disconnect().catch(() => undefined);
      throw KafkaControlErrors.kafkaFailed(`cannot start the control channel on ${this.topic}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async ensureTopic(): Promise<void> {
    if ((await this.admin.listTopics()).includes(this.topic)) return;
    try {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic: this.topic, numPartitions: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'min.compaction.lag.ms', value: '1000' },
            { name: 'segment.ms', value: '600000' },
            { name: 'min.cleanable.dirty.ratio', value: '0.1' },
          ],
        }],
      });
      this.log.info({ topic: this.topic }, 'created the control topic (compacted, 1 partition)');
    } catch (err) {
      // Another process may have created it at the same moment.
      if (!(await this.admin.listTopics()).includes(this.topic)) throw err;
    }
  }

  private async onBatch({ batch }: EachBatchPayload): Promise<void> {
    const partition = batch.partition;
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      // After a consumer restart the group has no offsets and replays from the start: skip what was read.
      if (offset < (this.position.get(partition) ?? 0)) continue;
      this.position.set(partition, offset + 1);
      this.accept(m.key?.toString('utf8') ?? '', m.value, partition, offset);
    }
    this.waiters = this.waiters.filter((w) => {
      if (!this.reached(w.ends)) return true;
      w.resolve();
      return false;
    });
  }

  /** A subclass's own messages (not states): true when `key`/`value` was one and is handled. */
  protected intercept(_key: string, _value: Buffer | null, _where: Record<string, unknown>): boolean {
    return false;
  }

  /** Undefined when a parsed state may be kept and delivered; else why it is refused. */
  protected admit(_state: T): string | undefined {
    return undefined;
  }

  /** Sends one raw message (a subclass's own kind). */
  protected async send(key: string, value: string): Promise<void> {
    if (this.closed) throw ControlErrors.channelClosed('the control channel is closed');
    await this.start();
    try {
      await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key, value }] });
    } catch (err) {
      throw KafkaControlErrors.kafkaFailed(`cannot publish ${key} to ${this.topic}: ${(err as Error).message}`, { cause: err });
    }
  }

  private accept(key: string, value: Buffer | null, partition: number, offset: number): void {
    const where = { topic: this.topic, partition, offset, key };
    if (this.intercept(key, value, where)) return;
    if (value === null) {
      this.latest.delete(key);
      this.log.info(where, 'control tombstone: model forgotten');
      return;
    }
    let state: T;
    try {
      state = this.codec.parse(JSON.parse(value.toString('utf8')), key);
    } catch (err) {
      this.skipped++;
      this.log.warn({ ...where, reason: (err as Error).message }, `bad control message skipped (not a valid ${this.codec.what}; not applied)`);
      return;
    }
    const refused = this.admit(state);
    if (refused !== undefined) {
      this.fenced++;
      this.log.warn({ ...where, reason: refused }, `${this.codec.what} refused (not applied)`);
      return;
    }
    const prior = this.latest.get(key);
    if (!prior || this.codec.generationOf(state) >= this.codec.generationOf(prior)) this.latest.set(key, state);
    for (const h of [...this.handlers]) {
      try {
        h(state);
      } catch (err) {
        this.log.warn({ err, key }, 'control handler threw');
      }
    }
  }
}

/** The Kafka adapter of the control channel: routing states keyed by model; see the module comment. */
export class KafkaControlChannel extends KafkaStateChannel<RoutingState> implements ControlChannel {
  private readonly fence = new EpochFence();

  constructor(opts: KafkaControlChannelOptions) {
    super(opts, ROUTING_CODEC);
  }

  /** The highest leadership epoch read from the topic. */
  get epoch(): number {
    return this.fence.highest;
  }

  /** Publishes an epoch announcement; resolves once the broker has it (readers fence from there on). */
  async announceEpoch(epoch: number, by: string): Promise<void> {
    const a = parseEpochAnnouncement({ epoch, by, at: Date.now() });
    await this.send(EPOCH_KEY, JSON.stringify(a));
  }

  protected override intercept(key: string, value: Buffer | null, where: Record<string, unknown>): boolean {
    if (key !== EPOCH_KEY) return false;
    try {
      const a = parseEpochAnnouncement(JSON.parse(value?.toString('utf8') ?? 'null'));
      this.fence.announce(a.epoch);
      this.log.info({ ...where, epoch: a.epoch, by: a.by }, 'controller leadership epoch announced');
    } catch (err) {
      this.log.warn({ ...where, reason: (err as Error).message }, 'bad epoch announcement skipped');
    }
    return true;
  }

  protected override admit(state: RoutingState): string | undefined {
    return this.fence.admit(state);
  }
}
