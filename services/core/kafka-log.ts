/**
 * Routes kafkajs's own log lines into a pino logger: its errors as warnings (kafkajs retries
 * them itself; the caller logs what finally fails), everything else at debug.
 */
import { logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from './log.ts';

/** A kafkajs `logCreator` writing to `log` under `{ kafka: { namespace, error } }`. */
export function kafkaLogCreator(log: Logger): logCreator {
  return () => ({ level, log: entry }: LogEntry) => {
    const fields = { kafka: { namespace: entry.namespace, error: entry.error as unknown } };
    if (level <= logLevel.ERROR) log.warn(fields, `kafka: ${entry.message}`);
    else log.debug(fields, `kafka: ${entry.message}`);
  };
}
