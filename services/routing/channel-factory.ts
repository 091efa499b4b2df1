/**
 * Builds the control channel the configuration asks for: the Kafka channel (compacted topic
 * `mlgate.control.v1`) when Kafka brokers are configured, else an {@link InProcessControlChannel}
 * (embedded mode: every component of the process must share that one instance, so build it once
 * and hand it to the gateway and the controller).
 */
import type { Logger } from '../core/log.ts';
import { InProcessControlChannel, type ControlChannel } from './channel.ts';
import { DEFAULT_CONTROL_TOPIC, KafkaControlChannel } from './kafka-channel.ts';

/** What {@link createControlChannel} needs. */
export interface ControlChannelFactoryOptions {
  /** The `kafka` config section; brokers absent = embedded mode (in-process channel). */
  kafka?: { brokers?: readonly string[] | undefined; clientId: string; connectionTimeoutMs?: number; requestTimeoutMs?: number } | undefined;
  /** Control topic; default `mlgate.control.v1`. */
  topic?: string | undefined;
  logger?: Logger | undefined;
  /** Longest `readToEnd` waits on Kafka (default 30 s). */
  readTimeoutMs?: number | undefined;
}

/** Returns the Kafka channel when `kafka.brokers` is set, else a new in-process channel. */
export function createControlChannel(opts: ControlChannelFactoryOptions = {}): ControlChannel {
  const k = opts.kafka;
  if (!k?.brokers?.length) return new InProcessControlChannel();
  return new KafkaControlChannel({
    brokers: k.brokers, clientId: k.clientId, topic: opts.topic ?? DEFAULT_CONTROL_TOPIC,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(k.connectionTimeoutMs !== undefined ? { connectionTimeoutMs: k.connectionTimeoutMs } : {}),
    ...(k.requestTimeoutMs !== undefined ? { requestTimeoutMs: k.requestTimeoutMs } : {}),
    ...(opts.readTimeoutMs !== undefined ? { readTimeoutMs: opts.readTimeoutMs } : {}),
  });
}
