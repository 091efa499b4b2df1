/**
 * Builds the telemetry sink the configuration asks for: the Kafka sink (with its disk spill)
 * when `kafka.brokers` is set, else the local-log sink of the embedded mode.
 */
import { dirname, join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { DEFAULT_MAX_AGE_HOURS, type TelemetryConfig } from './config.ts';
import { KafkaSink } from './kafka-sink.ts';
import { LocalLogSink } from './log-sink.ts';
import { TelemetryMetrics, type SendObserver } from './metrics.ts';
import type { TelemetrySink } from './sink.ts';

/** What {@link createSink} needs. */
export interface SinkFactoryOptions {
  telemetry: TelemetryConfig;
  /** Kafka settings; brokers absent = embedded mode (local log). */
  kafka?: { brokers?: readonly string[] | undefined; clientId: string; connectionTimeoutMs?: number; requestTimeoutMs?: number } | undefined;
  /** Folder for the local log and spill files (used when their `dir` is not configured). */
  dataDir: string;
  logger: Logger;
  /** When given, the telemetry metrics (docs/telemetry.md) are registered here. */
  registry?: Registry | undefined;
  /** Alternatively, metrics already registered (several sinks on one registry). */
  metrics?: TelemetryMetrics | undefined;
  /** Or only a receiver of send times (the sink thread forwards them: sink-thread.ts). */
  sendObserver?: SendObserver | undefined;
}

/** Default directory of the embedded mode's local log under `dataDir` (the ingester reads it). */
export function localLogDir(telemetry: TelemetryConfig, dataDir: string): string {
  return telemetry.localLog.dir || join(dataDir, 'telemetry-log');
}

/** Default directory of the Kafka sink's spill under `dataDir`. */
export function spillDir(telemetry: TelemetryConfig, dataDir: string): string {
  return telemetry.spill.dir || join(dataDir, 'telemetry-spill');
}

/** Default dead-letter file of the Kafka sink: next to its spill directory. */
export function deadLetterFile(telemetry: TelemetryConfig, dataDir: string): string {
  return telemetry.deadLetterFile || join(dirname(spillDir(telemetry, dataDir)), 'telemetry-dead-letter.jsonl');
}

/** Returns the sink for this configuration. Throws on an unusable directory or a locked log. */
export function createSink(opts: SinkFactoryOptions): TelemetrySink {
  const t = opts.telemetry;
  const metrics = opts.metrics ?? (opts.registry ? new TelemetryMetrics(opts.registry) : undefined);
  const logOpts = (s: TelemetryConfig['spill'], dir: string) => ({
    dir, segmentBytes: s.segmentBytes, maxBytes: s.maxBytes, fsync: s.fsync, fsyncIntervalMs: s.fsyncIntervalMs, logger: opts.logger,
    maxAgeMs: (s.maxAgeHours ?? DEFAULT_MAX_AGE_HOURS) * 3_600_000,
  });
  let sink: TelemetrySink;
  if (opts.kafka?.brokers?.length) {
    sink = new KafkaSink({
      brokers: opts.kafka.brokers, clientId: opts.kafka.clientId, topic: t.topic, partitions: t.partitions,
      replicationFactor: t.replicationFactor, queue: t.queue, batch: t.batch, stallMs: t.stallMs, producerThread: t.producerThread, resendWindow: t.resendWindow,
      spill: logOpts(t.spill, spillDir(t, opts.dataDir)), deadLetterFile: deadLetterFile(t, opts.dataDir),
      connectionTimeoutMs: opts.kafka.connectionTimeoutMs, requestTimeoutMs: opts.kafka.requestTimeoutMs,
      logger: opts.logger, metrics: metrics ?? opts.sendObserver,
    });
  } else {
    sink = new LocalLogSink({ log: logOpts(t.localLog, localLogDir(t, opts.dataDir)), queue: t.queue, batch: t.batch, logger: opts.logger, metrics: metrics ?? opts.sendObserver });
  }
  metrics?.track(sink);
  return sink;
}
