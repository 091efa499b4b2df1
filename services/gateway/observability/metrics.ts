/**
 * Prometheus metrics of one gateway (prom-client, a registry per gateway so several can share a
 * process). Names and labels are documented in docs/gateway.md; dashboards and alerts build on
 * them, so rename nothing. Label children are cached so a request costs a few map lookups.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { TelemetrySink } from '../../telemetry/sink.ts';
import { BREAKER_STATE_VALUE, type BreakerState } from '../routing/breaker.ts';
import { FastCounter, FastHistogram } from './fast-metrics.ts';

/** Latency buckets in seconds (1 ms to 60 s). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A gateway's metrics. */
export class GatewayMetrics {
  /** The registry served at GET /metrics on the admin port. */
  readonly registry: Registry;
  /** Per-request series use the cheap {@link FastCounter}/{@link FastHistogram} (see fast-metrics.ts). */
  readonly requests: FastCounter;
  readonly duration: FastHistogram;
  readonly upstreamDuration: FastHistogram;
  readonly ttfb: FastHistogram;
  readonly inflight: Gauge;
  readonly breaker: Gauge<'model' | 'version'>;
  readonly weight: Gauge<'model' | 'version'>;
  readonly tripped: Gauge<'model' | 'version'>;
  readonly generation: Gauge<'model'>;
  readonly adminChanges: Counter<'action'>;
  readonly controlRefused: Counter<'source'>;
  readonly shadowSkipped: Counter<'model' | 'reason'>;
  readonly upstreamRetries: Counter<'model' | 'version'>;
  private readonly routed = new Map<string, string[]>();
  private inflightSource: () => number = () => 0;
  private workerSource: () => boolean = () => false;

  /**
   * @param sink read on each scrape for the telemetry queue and delivery counters, unless the
   *   registry already has the telemetry metrics (the sink factory registered them: they win).
   * @param registry where to register; default a new one (several gateways per process).
   */
  constructor(sink: TelemetrySink, gatewayId: string, registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.registry.setDefaultLabels({ gateway: gatewayId });
    this.requests = new FastCounter('mlgate_gateway_requests_total', 'Requests by model, version, role and outcome', ['model', 'version', 'role', 'outcome'], registry);
    this.duration = new FastHistogram('mlgate_gateway_request_duration_seconds', 'Total time from request to last byte sent', ['model', 'version', 'role'], LATENCY_BUCKETS, registry);
    this.upstreamDuration = new FastHistogram('mlgate_gateway_upstream_duration_seconds', 'Time from sending upstream to the upstream response end', ['model', 'version'], LATENCY_BUCKETS, registry);
    this.ttfb = new FastHistogram('mlgate_gateway_ttfb_seconds', 'Time from request to the first response body byte', ['model', 'version'], LATENCY_BUCKETS, registry);
    const inflightOf = () => this.inflightSource();
    const workerOn = () => this.workerSource();
    new Gauge({ name: 'mlgate_gateway_event_worker', help: '1 while telemetry events are built and sent in the telemetry thread, 0 when on the main thread', registers, aggregator: 'min', collect() { this.set(workerOn() ? 1 : 0); } });
    this.inflight = new Gauge({ name: 'mlgate_gateway_inflight_requests', help: 'Requests being served now (primary requests and shadow copies)', registers, collect() { this.set(inflightOf()); } });
    this.breaker = new Gauge({ name: 'mlgate_gateway_breaker_state', help: 'Breaker state per version: 0 closed, 1 half-open, 2 open', labelNames: ['model', 'version'], registers, aggregator: 'max' });
    this.weight = new Gauge({ name: 'mlgate_gateway_version_weight', help: 'Traffic weight per version in percent', labelNames: ['model', 'version'], registers, aggregator: 'max' });
    this.tripped = new Gauge({ name: 'mlgate_gateway_version_tripped', help: '1 when the version is tripped by the controller or an admin', labelNames: ['model', 'version'], registers, aggregator: 'max' });
    this.generation = new Gauge({ name: 'mlgate_gateway_routing_generation', help: 'Generation of the routing state in force', labelNames: ['model'], registers, aggregator: 'max' });
    this.adminChanges = new Counter({ name: 'mlgate_gateway_admin_changes_total', help: 'Admin changes applied, by action', labelNames: ['action'], registers });
    this.controlRefused = new Counter({ name: 'mlgate_gateway_routing_refused_total', help: 'Routing states refused (stale generation or not fitting the config)', labelNames: ['source'], registers });
    this.shadowSkipped = new Counter({ name: 'mlgate_gateway_shadow_skipped_total', help: 'Shadow copies not sent, by reason', labelNames: ['model', 'reason'], registers });
    this.upstreamRetries = new Counter({ name: 'mlgate_gateway_upstream_retries_total', help: 'Retries after a connection error', labelNames: ['model', 'version'], registers });
    if (!registry.getSingleMetric('mlgate_telemetry_queue_depth')) this.registerSinkMetrics(sink, registers);
  }

  private registerSinkMetrics(sink: TelemetrySink, registers: Registry[]): void {
    new Gauge({
      name: 'mlgate_telemetry_queue_depth', help: 'Telemetry events waiting in memory', registers,
      collect() { this.set(sink.stats().queued); },
    });
    new Counter({
      name: 'mlgate_telemetry_events_total', help: 'Telemetry events by result (from the sink)', labelNames: ['result'], registers,
      collect() {
        const s = sink.stats();
        this.reset();
        this.labels('sent').inc(s.sent);
        this.labels('spilled').inc(s.spilled);
        this.labels('replayed').inc(s.replayed);
        this.labels('dropped').inc(s.dropped);
      },
    });
    new Counter({
      name: 'mlgate_telemetry_producer_errors_total', help: 'Errors from the telemetry transport (from the sink)', registers,
      collect() { this.reset(); this.inc(sink.stats().errors); },
    });
  }

  /** Where the in-flight gauge reads its value at scrape time (no per-request gauge updates). */
  setInflightSource(f: () => number): void {
    this.inflightSource = f;
  }

  /** Where the event-worker gauge reads whether the telemetry thread is in use. */
  setEventWorkerSource(f: () => boolean): void {
    this.workerSource = f;
  }

  /** Counts one finished request. */
  countRequest(model: string, version: string, role: string, outcome: string): void {
    this.requests.inc([model, version, role, outcome]);
  }

  /** Observes total request time. */
  observeDuration(model: string, version: string, role: string, seconds: number): void {
    this.duration.observe([model, version, role], seconds);
  }

  /** Observes upstream time. */
  observeUpstream(model: string, version: string, seconds: number): void {
    this.upstreamDuration.observe([model, version], seconds);
  }

  /** Observes time to first byte. */
  observeTtfb(model: string, version: string, seconds: number): void {
    this.ttfb.observe([model, version], seconds);
  }

  /** Sets a breaker's state. */
  setBreaker(model: string, version: string, state: BreakerState): void {
    this.breaker.labels(model, version).set(BREAKER_STATE_VALUE[state]);
  }

  /** Mirrors a routing state; undefined removes the model's series (model removed by a reload). */
  setRouting(model: string, state: { generation: number; versions: ReadonlyArray<{ name: string; weight: number; state: string }> } | undefined): void {
    const previous = this.routed.get(model) ?? [];
    const names = state ? state.versions.map((v) => v.name) : [];
    for (const v of previous) {
      if (names.includes(v)) continue;
      this.weight.remove(model, v);
      this.tripped.remove(model, v);
    }
    if (!state) {
      this.generation.remove(model);
      this.routed.delete(model);
      return;
    }
    for (const v of state.versions) {
      this.weight.labels(model, v.name).set(v.weight);
      this.tripped.labels(model, v.name).set(v.state === 'tripped' ? 1 : 0);
    }
    this.generation.labels(model).set(state.generation);
    this.routed.set(model, names);
  }
}
