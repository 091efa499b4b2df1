/**
 * The gateway with what it needs around it, built once for both `mlgate gateway` (main.ts) and
 * embedded mode: the telemetry sink, the tracing SDK (loaded only when spans are exported: it
 * takes about a second), the hasher and redactor (and their options for the telemetry thread), the
 * start-tolerant view of the control channel, then the gateway itself. Each part registers its
 * stop with the caller's {@link Lifecycle}, so the gateway stops first, then the sink flushes,
 * then tracing; when a step fails the caller stops the lifecycle and what started stops again.
 */
import { availableParallelism, hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { KafkaSection } from '../core/config.ts';
import type { Lifecycle } from '../core/lifecycle.ts';
import { componentLogger, type Logger } from '../core/log.ts';
import type { AdminChangeRecorder } from '../ledger/admin-changes.ts';
import type { ControlChannel } from '../routing/channel.ts';
import { StartupTolerantChannel } from '../routing/startup-tolerant-channel.ts';
import type { TelemetryConfig } from '../telemetry/config.ts';
import { createSink } from '../telemetry/factory.ts';
import { createHasher, type Hasher } from '../telemetry/hash.ts';
import { createRedactor, warmRedactor } from '../telemetry/redact.ts';
import { ThreadedSink } from '../telemetry/threaded-sink.ts';
import { eventWorkerOn, type GatewayConfig } from './config.ts';
import { startGateway, type RunningGateway } from './gateway.ts';
import type { GatewayHooks } from './proxy/edge-hooks.ts';

type KafkaConfig = z.output<typeof KafkaSection>;

/** Options of {@link assembleGateway}. */
export interface AssembleGatewayOptions {
  gateway: GatewayConfig;
  telemetry: TelemetryConfig;
  kafka: KafkaConfig;
  dataDir: string;
  logger: Logger;
  lifecycle: Lifecycle;
  /** The gateway's control channel (its owner closes it). */
  control: ControlChannel;
  registry: Registry;
  recorder?: AdminChangeRecorder;
  hooks?: GatewayHooks;
  reload: () => GatewayConfig | Promise<GatewayConfig>;
  /** Cluster worker slot (`gateway.workers` > 1), named by GET /healthz. */
  worker?: number;
  /** What GET /metrics on the admin port serves; default `registry`. */
  adminMetrics?: Registry;
  /** Wraps each start step (embedded mode names the part that failed). */
  step?: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
}

/** The started gateway and the hasher its events were keyed with. */
export interface AssembledGateway {
  readonly gateway: RunningGateway;
  readonly hasher: Hasher;
}

/** The gateway id: `gateway.id`, else `<hostname>-<pid>`. */
export function gatewayIdOf(cfg: GatewayConfig): string {
  return cfg.id || `${hostname()}-${process.pid}`;
}

/**
 * The gateway's view of `control`: with Kafka configured, Kafka down at start must not hold the
 * models' traffic, so it waits a little for the control topic, then serves the configured routing
 * and catches up when Kafka answers (services/routing/startup-tolerant-channel.ts).
 */
export function gatewayControlOf(control: ControlChannel, kafka: KafkaConfig, logger: Logger): ControlChannel {
  return kafka.brokers?.length ? new StartupTolerantChannel(control, { startupTimeoutMs: 5000, retryMs: 5000, logger }) : control;
}

/** Builds the sink, tracing, hasher and redactor and starts the gateway, registering each stop. */
export async function assembleGateway(opts: AssembleGatewayOptions): Promise<AssembledGateway> {
  const { lifecycle, logger } = opts;
  const step = opts.step ?? (<T>(_what: string, fn: () => Promise<T>) => fn());
  // Stop order is the reverse: gateway, then the sink flushes what it was given, then tracing.
  const tracingSlot = lifecycle.slot('tracing');
  const hashing = { key: opts.telemetry.hashing.key, keyId: opts.telemetry.hashing.keyId };
  const r = opts.telemetry.redaction;
  const redaction = { maxChars: r.maxChars, maskPaths: r.maskPaths, ...(r.maskKeys ? { maskKeys: r.maskKeys } : {}) };
  const hasher = createHasher(hashing);
  const redactor = createRedactor(redaction);
  // Events built on this thread (inline, or after the telemetry thread failed) start warm too.
  warmRedactor(redactor);
  const g = opts.gateway;
  const telemetryLogger = componentLogger(logger, 'telemetry');
  // With the event worker on, the sink runs in that thread too: the request thread only hands
  // each exchange over (telemetry/threaded-sink.ts).
  const sink = eventWorkerOn(g.eventWorker, g.workers, availableParallelism())
    ? await step('telemetry thread', () => ThreadedSink.start({
      gatewayId: gatewayIdOf(g), hasher: hashing, redactor: redaction, hasherInstance: hasher, redactorInstance: redactor,
      telemetry: opts.telemetry, dataDir: opts.dataDir, logger: telemetryLogger, registry: opts.registry,
      kafka: opts.kafka.brokers?.length ? { brokers: opts.kafka.brokers, clientId: opts.kafka.clientId, connectionTimeoutMs: opts.kafka.connectionTimeoutMs, requestTimeoutMs: opts.kafka.requestTimeoutMs } : undefined,
      service: String(logger.bindings().service ?? 'mlgate'), logLevel: logger.level,
    }))
    : createSink({ telemetry: opts.telemetry, kafka: opts.kafka, dataDir: opts.dataDir, logger: telemetryLogger, registry: opts.registry });
  lifecycle.started('telemetry sink', () => sink.close());
  const tracing = opts.gateway.tracing.exporter === 'none'
    ? { provider: undefined, shutdown: async () => {} }
    : await (await import('./observability/tracing-sdk.ts')).startTracingSdk(opts.gateway.tracing);
  tracingSlot(() => tracing.shutdown());
  const gateway = await step(`gateway (${g.host}:${g.port}, admin ${g.admin.host}:${g.admin.port})`, () => startGateway({
    config: g, sink, hasher, consumerIds: opts.telemetry.consumerIds, redactor,
    logger, control: opts.control, gatewayId: gatewayIdOf(g),
    registry: opts.registry, reload: opts.reload,
    ...(opts.recorder ? { recorder: opts.recorder } : {}), ...(opts.adminMetrics ? { adminMetrics: opts.adminMetrics } : {}), ...(opts.worker ? { worker: opts.worker } : {}), ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(tracing.provider ? { tracerProvider: tracing.provider } : {}),
  }));
  lifecycle.started('gateway', () => gateway.close());
  return { gateway, hasher };
}
