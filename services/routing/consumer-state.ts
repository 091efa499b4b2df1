/**
 * The edge's consumer table as a published state: every consumer (models, pin, limits, API key
 * hashes) at one generation, so a change made through one gateway's admin API reaches every
 * gateway and survives restarts. It travels like routing states, on a compacted topic of its own
 * (`mlgate.consumers.v1`, one key `consumers`), and a gateway applies a state only when its
 * generation is higher than the one it holds; the configuration file's consumers are generation 0,
 * so a published table wins over the file at start.
 *
 * What it carries: API key *hashes* (`sha256:<key id>:<hex>`, as in the config file), never keys.
 * Each consumer is validated by the gateway with the config's own schema before it applies a
 * table; this module checks only the envelope (routing must not depend on the gateway).
 *
 * Concurrent changes on two gateways: each takes `max(its generation + 1, now)`; the higher
 * generation wins everywhere and the other change, although recorded in `admin_changes`, is
 * overwritten (make consumer changes through one gateway at a time).
 */
import { z } from 'zod';
import type { Logger } from '../core/log.ts';
import { ControlErrors } from './errors.ts';
import { DEFAULT_CONTROL_TOPIC, KafkaStateChannel, type StateCodec } from './kafka-channel.ts';

/** Default topic of consumer tables. */
export const DEFAULT_CONSUMERS_TOPIC = 'mlgate.consumers.v1';
/** The one key consumer tables are published under. */
export const CONSUMERS_KEY = 'consumers';

/** A published consumer table. */
export const ConsumerStateSchema = z.strictObject({
  /** Monotonically increasing; 0 is the configuration file's table. */
  generation: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** Consumer id → the config's consumer shape (validated by the gateway on apply). */
  consumers: z.record(z.string().min(1).max(200), z.unknown()),
  /** The admin change that produced it. */
  cause: z.strictObject({
    actor: z.string().min(1).max(200),
    action: z.string().min(1).max(50),
    id: z.string().max(100),
    at: z.number().int().nonnegative(),
    gateway: z.string().max(200),
  }),
});

/** A published consumer table. */
export type ConsumerState = z.output<typeof ConsumerStateSchema>;

/** Validates a consumer state. @throws MLG_CONTROL_STATE_INVALID naming the fields */
export function parseConsumerState(value: unknown): ConsumerState {
  const r = ConsumerStateSchema.safeParse(value);
  if (!r.success) throw ControlErrors.stateInvalid(`invalid consumer state: ${r.error.issues.map((i) => `${i.path.join('.') || '(state)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** The generation a writer takes next: above the current one and not behind the clock. */
export function nextConsumerGeneration(current: number, now = Date.now()): number {
  return Math.max(current + 1, now);
}

/** Where consumer tables are published and read (the same semantics as the control channel). */
export interface ConsumerChannel {
  publish(state: ConsumerState): Promise<void>;
  /** Handler for each state read from now on. Returns an unsubscribe function. */
  subscribe(handler: (state: ConsumerState) => void): () => void;
  /** The latest table (highest generation) as of the call, or undefined when none was published. */
  readLatest(): Promise<ConsumerState | undefined>;
  close(): Promise<void>;
}

const CODEC: StateCodec<ConsumerState> = {
  what: 'consumer state',
  parse: (value, key) => {
    if (key !== CONSUMERS_KEY) throw new Error(`key ${JSON.stringify(key)} is not ${CONSUMERS_KEY}`);
    return parseConsumerState(value);
  },
  keyOf: () => CONSUMERS_KEY,
  generationOf: (s) => s.generation,
};

/** Options of {@link createConsumerChannel}. */
export interface ConsumerChannelOptions {
  brokers: readonly string[];
  clientId: string;
  /** Default `mlgate.consumers.v1`. */
  topic?: string | undefined;
  logger?: Logger | undefined;
  connectionTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  readTimeoutMs?: number | undefined;
}

/** The Kafka consumer-table channel (compacted topic, created when missing). */
export function createConsumerChannel(opts: ConsumerChannelOptions): ConsumerChannel {
  const topic = opts.topic ?? DEFAULT_CONSUMERS_TOPIC;
  if (topic === DEFAULT_CONTROL_TOPIC) throw ControlErrors.stateInvalid(`the consumer tables need a topic of their own, not ${topic}`);
  const ch = new KafkaStateChannel<ConsumerState>({
    brokers: opts.brokers, clientId: `${opts.clientId}-consumers`, topic,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.connectionTimeoutMs !== undefined ? { connectionTimeoutMs: opts.connectionTimeoutMs } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.readTimeoutMs !== undefined ? { readTimeoutMs: opts.readTimeoutMs } : {}),
  }, CODEC);
  return {
    publish: (s) => ch.publish(s),
    subscribe: (h) => ch.subscribe(h),
    readLatest: async () => (await ch.readToEnd())[0],
    close: () => ch.close(),
  };
}
