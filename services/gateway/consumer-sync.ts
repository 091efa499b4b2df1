/**
 * Distributed mode: the gateway follows the shared consumer table (services/routing/
 * consumer-state.ts). A consumer or key change made through any gateway's admin API is published
 * there as a whole table with a new generation; every gateway applies the highest generation,
 * and a restarted gateway applies the latest published table over its file's consumers.
 *
 * Kafka down at start must not stop the models' traffic (as for routing): wait up to
 * `startupTimeoutMs` for the table, then serve the one in force (the file's) and retry every
 * `retryMs` until the channel answers.
 */
import type { Logger } from '../core/log.ts';
import { createConsumerChannel, type ConsumerChannel } from '../routing/consumer-state.ts';
import type { RunningGateway } from './gateway.ts';

/** Options of {@link followConsumerTables}. */
export interface ConsumerSyncOptions {
  /** A channel to use (tests); else one is made from `kafka` (and closed with the sync). */
  channel?: ConsumerChannel | undefined;
  kafka: { brokers?: readonly string[] | undefined; clientId: string };
  logger: Logger;
  /** Default 5000. */
  startupTimeoutMs?: number;
  /** Default 5000. */
  retryMs?: number;
}

/** A running follow; `close` stops it (and closes a channel it made). */
export interface ConsumerSync {
  readonly active: boolean;
  close(): Promise<void>;
}

/**
 * Starts following the consumer table when the edge is on and there is a channel (given, or Kafka
 * brokers configured). Resolves once the latest table is applied, or after the startup timeout.
 */
export async function followConsumerTables(gateway: RunningGateway, opts: ConsumerSyncOptions): Promise<ConsumerSync> {
  const admin = gateway.admin.consumers;
  if (!admin.enabled || (!opts.channel && !opts.kafka.brokers?.length)) return { active: false, close: async () => {} };
  const own = opts.channel ? undefined : createConsumerChannel({ brokers: opts.kafka.brokers!, clientId: opts.kafka.clientId, logger: opts.logger });
  const channel = opts.channel ?? own!;
  const retryMs = opts.retryMs ?? 5000;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  const attach = (): Promise<void> => admin.attach(channel).catch((err: unknown) => {
    if (closed) return;
    opts.logger.warn({ err }, `consumer table not read from Kafka; serving the one in force, retrying in ${retryMs} ms`);
    retry = setTimeout(() => { void attach(); }, retryMs);
    retry.unref();
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([attach(), new Promise<void>((r) => { timer = setTimeout(r, opts.startupTimeoutMs ?? 5000); timer.unref(); })]);
  clearTimeout(timer);
  return {
    active: true,
    close: async () => {
      closed = true;
      clearTimeout(retry);
      admin.detach();
      await own?.close();
    },
  };
}
