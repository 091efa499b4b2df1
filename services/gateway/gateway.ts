/**
 * `startGateway`: wires the routing table, data plane, admin API, metrics, tracing, telemetry and
 * control channel into one running gateway, and shuts it down gracefully.
 *
 * Start: build the table from the config (states at generation 0), read the control channel to
 * its end and apply what is newer, subscribe for later states, start health checks, listen.
 * Close: stop accepting, let in-flight requests (and shadow copies) finish within
 * `shutdownTimeoutMs` (then cut them), close the admin API and pools, hand over the last events
 * and flush the sink (the caller owns the sink and closes it).
 */
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { trace, type TracerProvider } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { componentLogger, silentLogger, type Logger } from '../core/log.ts';
import { MemoryAdminChangeRecorder, type AdminChangeRecorder } from '../ledger/admin-changes.ts';
import type { ControlChannel } from '../routing/channel.ts';
import type { ApplyResult, RoutingState } from '../routing/state.ts';
import type { ConsumerIdMode } from '../telemetry/config.ts';
import type { Hasher } from '../telemetry/hash.ts';
import type { Redactor } from '../telemetry/redact.ts';
import type { TelemetrySink } from '../telemetry/sink.ts';
import { createAdminApp, type AdminToken } from './admin/api.ts';
import { AdminService } from './admin/routing-changes.ts';
import { DEFAULT_ADMIN_ACTOR, type GatewayConfig } from './config.ts';
import { createDataPlane } from './proxy/data-plane.ts';
import { createEdge } from './edge/edge.ts';
import { EdgeMetrics } from './edge/edge-metrics.ts';
import { SchemaBook } from './edge/input-schema.ts';
import { ResponseCache } from './edge/cache.ts';
import type { CacheConfig } from './edge/edge-config.ts';
import { serverTlsOptions } from './edge/tls.ts';
import type { GatewayHooks } from './proxy/edge-hooks.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { RoutingTable } from './routing/table.ts';
import { ShadowSender } from './proxy/shadow.ts';
import { TelemetryStage } from '../telemetry/event-stage.ts';
import { RequestTracer } from './observability/tracing.ts';

/** Options of {@link startGateway}. */
export interface StartGatewayOptions {
  config: GatewayConfig;
  sink: TelemetrySink;
  hasher: Hasher;
  redactor: Redactor;
  logger?: Logger;
  /** Where routing states come from and go to; absent = this gateway's admin API only. */
  control?: ControlChannel;
  /** Id in events and metrics; default `gateway.id` or `<hostname>-<pid>`. */
  gatewayId?: string;
  /** Edge seams (consumers, permissions, rate limits, pinning). */
  hooks?: GatewayHooks;
  /** `telemetry.consumerIds`: how the edge stores consumer ids from tokens; default `hash`. */
  consumerIds?: ConsumerIdMode;
  /** Where admin changes are recorded; default in memory (GET /admin/changes). */
  recorder?: AdminChangeRecorder;
  /** Spans go here; default the global provider when `tracing.exporter` is not `none`. */
  tracerProvider?: TracerProvider;
  /** Re-reads the config for POST /admin/reload. */
  reload?: () => GatewayConfig | Promise<GatewayConfig>;
  /** Prometheus registry to register on (e.g. shared with the sink's metrics); default a new one. */
  registry?: Registry;
  /** Cluster worker slot (`gateway.workers` > 1), named by GET /healthz. */
  worker?: number;
  /** What GET /metrics on the admin port serves; default `registry` (a cluster worker serves the workers' aggregate). */
  adminMetrics?: Registry;
}

/** Read access to the routing state in force. */
export interface RoutingView {
  /** The state of one model, or undefined. */
  get(model: string): RoutingState | undefined;
  /** Every model's state. */
  all(): RoutingState[];
}

/** A started gateway. */
export interface RunningGateway {
  readonly gatewayId: string;
  /** Data plane, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Admin API ('' when disabled). */
  readonly adminUrl: string;
  /** Prometheus metrics: GET /metrics on the admin port ('' when the admin API is disabled). */
  readonly metricsUrl: string;
  readonly routing: RoutingView;
  readonly metrics: GatewayMetrics;
  /** Admin operations without HTTP (embedded mode, tests). */
  readonly admin: AdminService;
  /** Offers a routing state directly (in-process controller); applied only when newer and valid. */
  applyState(state: RoutingState): ApplyResult;
  /** Graceful shutdown; idempotent. */
  close(): Promise<void>;
}

function urlOf(app: FastifyInstance, scheme = 'http'): string {
  const a = app.server.address() as AddressInfo;
  const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `${scheme}://${host}:${a.port}`;
}

/** Starts a gateway. Rejects (and releases what it opened) when a listener cannot bind. */
export async function startGateway(opts: StartGatewayOptions): Promise<RunningGateway> {
  const config = opts.config;
  const gatewayId = opts.gatewayId ?? (config.id || `${hostname()}-${process.pid}`);
  const root = opts.logger ?? silentLogger();
  const logger = componentLogger(root, 'gateway');
  const metrics = new GatewayMetrics(opts.sink, gatewayId, opts.registry);
  // Compile every input schema now: a schema that does not compile stops the start.
  const schemas = new SchemaBook();
  for (const [name, m] of Object.entries(config.models)) schemas.of(name, m);
  const cache = new ResponseCache(cacheConfigs(config));
  const https = config.tls ? serverTlsOptions(config.tls) : undefined;
  const table = new RoutingTable({
    config, logger,
    onBreakerChange: (model, version, state) => metrics.setBreaker(model, version, state),
    onStateApplied: (model, state) => {
      metrics.setRouting(model, state);
      // A version whose weight or state changed may now be another model: its answers go.
      if (state) cache.onState(model, state.versions);
    },
  });
  for (const m of table.all()) for (const v of m.versions.values()) metrics.setBreaker(m.name, v.name, 'closed');
  const offer = (state: RoutingState, source: string): ApplyResult => {
    const before = table.get(state.model)?.state.generation;
    const r = table.offer(state, source);
    if (!r.applied && state.generation !== before) metrics.controlRefused.labels(source).inc();
    return r;
  };
  const control = opts.control;
  let unsubscribe: (() => void) | undefined;
  if (control) {
    for (const s of await control.readToEnd()) offer(s, 'control');
    unsubscribe = control.subscribe((s) => { offer(s, 'control'); });
  }
  const telemetry = new TelemetryStage({
    sink: opts.sink, hasher: opts.hasher, redactor: opts.redactor, gatewayId, logger,
  });
  const shadow = new ShadowSender({
    maxInFlight: () => table.gatewayConfig.shadowMaxInFlight, captureMaxBytes: () => table.gatewayConfig.captureMaxBytes,
    metrics, telemetry, logger,
  });
  const provider = opts.tracerProvider ?? (config.tracing.exporter !== 'none' ? trace.getTracerProvider() : undefined);
  const tracer = new RequestTracer({ provider, sampleRatio: config.tracing.sampleRatio });
  // The edge (consumers, auth, rate limits, token budgets) fills the hooks unless the caller brings its own.
  const edge = opts.hooks ? undefined : createEdge({
    consumers: config.consumers, auth: config.auth, rateLimits: config.rateLimits, tokenBudgets: config.tokenBudgets, registry: metrics.registry, logger,
    hasher: opts.hasher, consumerIds: opts.consumerIds,
  });
  const edgeMetrics = edge?.metrics ?? new EdgeMetrics(metrics.registry);
  const { app, handler } = createDataPlane({
    table, metrics, telemetry, shadow, tracer, hooks: opts.hooks ?? edge!.hooks, logger, bodyLimit: config.maxBodyBytes, schemas, edgeMetrics,
    cache, hasher: opts.hasher, https, listener: config.listener, worker: opts.worker,
  });
  metrics.setInflightSource(() => handler.active + shadow.active);
  metrics.setEventWorkerSource(() => telemetry.usesWorker);
  const recorder = opts.recorder ?? new MemoryAdminChangeRecorder();
  const admin = new AdminService({ gatewayId, table, recorder, metrics, logger, control, consumers: edge?.consumers, reload: opts.reload });
  const adminApp = config.admin.enabled
    ? createAdminApp({ tokens: adminTokens(config), metricsRequireToken: config.admin.metricsRequireToken, service: admin, metrics, metricsRegistry: opts.adminMetrics })
    : undefined;
  try {
    await app.listen({ host: config.host, port: config.port });
    if (adminApp) await adminApp.listen({ host: config.admin.host, port: config.admin.port });
  } catch (err) {
    unsubscribe?.();
    await telemetry.close();
    await app.close().catch(() => {});
    await adminApp?.close().catch(() => {});
    await table.destroy();
    await edge?.close();
    throw err;
  }
  table.startHealthChecks();
  const url = urlOf(app, https ? 'https' : 'http');
  const adminUrl = adminApp ? urlOf(adminApp) : '';
  logger.info({ gateway_id: gatewayId, url, admin_url: adminUrl, models: Object.keys(config.models) }, 'gateway listening');

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    handler.draining = true;
    const server = app.server;
    const stopped = app.close();
    server.closeIdleConnections();
    const deadline = table.gatewayConfig.shutdownTimeoutMs;
    const timedOut = await waitFor(Promise.all([handler.idle(), shadow.drain()]), deadline);
    if (timedOut) {
      logger.warn({ inflight: handler.active, shadows: shadow.active }, 'shutdown deadline passed; cutting the remaining requests');
      handler.cutting = true;
      server.closeAllConnections();
      await table.destroy();
      await waitFor(Promise.all([handler.idle(), shadow.drain()]), 2_000);
    }
    await stopped;
    unsubscribe?.();
    await adminApp?.close();
    await table.close();
    await telemetry.close();
    await edge?.close();
    await opts.sink.flush();
    logger.info({ gateway_id: gatewayId }, 'gateway stopped');
  };

  return {
    gatewayId, url, adminUrl, metricsUrl: adminUrl ? `${adminUrl}/metrics` : '', metrics, admin,
    routing: { get: (m) => table.get(m)?.state, all: () => table.states() },
    applyState: (s) => offer(s, 'direct'),
    close: () => (closing ??= close()),
  };
}

/** The admin API's tokens: the single `admin.token` (actor `admin`) and the named `admin.tokens`. */
function adminTokens(config: GatewayConfig): AdminToken[] {
  const single = config.admin.token !== undefined ? [{ name: DEFAULT_ADMIN_ACTOR, token: config.admin.token }] : [];
  return [...single, ...config.admin.tokens];
}

/** Cache settings of the versions that cache, by `model\0version` (fixed at start). */
function cacheConfigs(config: GatewayConfig): Map<string, CacheConfig> {
  const out = new Map<string, CacheConfig>();
  for (const [m, mc] of Object.entries(config.models)) {
    for (const [v, vc] of Object.entries(mc.versions)) if (vc.cache?.enabled) out.set(`${m}\0${v}`, vc.cache);
  }
  return out;
}

/** Waits for `p` up to `ms`; resolves true when the time ran out first. */
async function waitFor(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), ms); timer.unref(); });
  try {
    return await Promise.race([p.then(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
