/**
 * kafkajs clients the way the services build them: {@link kafkaClient} with the shared timeouts
 * and log routing, and {@link kafkaLogCreator}, which routes kafkajs's own log lines into a pino
 * logger: its errors as warnings (kafkajs retries them itself; the caller logs what finally
 * fails), everything else at debug.
 */
import { Kafka, logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from './log.ts';

/** A kafkajs `logCreator` writing to `log` under `{ kafka: { namespace, error } }`. */
export function kafkaLogCreator(log: Logger): logCreator {
  return () => ({ level, log: entry }: LogEntry) => {
    const fields = { kafka: { namespace: entry.namespace, error: entry.error as unknown } };
    if (level <= logLevel.ERROR) log.warn(fields, `kafka: ${entry.message}`);
    else log.debug(fields, `kafka: ${entry.message}`);
  };
}

/** Options of {@link kafkaClient}. */
export interface KafkaClientOptions {
  clientId: string;
  brokers: readonly string[];
  /** Default 3000 ms. */
  connectionTimeoutMs?: number | undefined;
  /** Default 30000 ms. */
  requestTimeoutMs?: number | undefined;
  /** Where kafkajs's log lines go (see {@link kafkaLogCreator}). */
  logger: Logger;
  /** kafkajs's retry of its own requests. */
  retry: { initialRetryTime: number; retries: number };
}

/** A kafkajs client with the services' timeouts and log routing. */
export function kafkaClient(o: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: o.clientId,
    brokers: [...o.brokers],
    connectionTimeout: o.connectionTimeoutMs ?? 3000,
    requestTimeout: o.requestTimeoutMs ?? 30_000,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(o.logger),
    retry: o.retry,
  });
}
