/**
 * Builds the telemetry sink the configuration asks for.
 *
 * NOTE: interim version. The telemetry work replaces it with the Kafka sink (with spill) when
 * `kafka.brokers` is set and the local append-only log otherwise; until then only the
 * in-memory sink exists and Kafka is refused with a clear error.
 */
import type { Logger } from '../core/log.ts';
import type { TelemetryConfig } from './config.ts';
import { MemorySink, type TelemetrySink } from './sink.ts';

/** What {@link createSink} needs. */
export interface SinkFactoryOptions {
  telemetry: TelemetryConfig;
  /** Kafka settings; brokers absent = embedded mode (local log). */
  kafka?: { brokers?: readonly string[]; clientId: string } | undefined;
  /** Folder for the local log and spill files. */
  dataDir: string;
  logger: Logger;
}

/** Returns the sink for this configuration. */
export function createSink(opts: SinkFactoryOptions): TelemetrySink {
  if (opts.kafka?.brokers?.length) throw new Error('the Kafka telemetry sink is not built yet');
  return new MemorySink();
}
