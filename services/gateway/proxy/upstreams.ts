/**
 * The I/O side of one version: an undici Pool per upstream target, its breaker and balancer, and
 * the active health checks. Routing decisions stay in the pure classes; this file owns sockets.
 */
import { Pool } from 'undici';
import type { Logger } from '../../core/log.ts';
import type { VersionConfig } from '../config.ts';
import { Balancer } from '../routing/balancer.ts';
import { CircuitBreaker, type BreakerState } from '../routing/breaker.ts';
import { upstreamConnectOptions } from '../edge/tls.ts';
import { resolveCredentials, type ResolvedCredentials } from './credentials.ts';
import { providerOf } from './providers/registry.ts';
import type { Provider } from './providers/provider.ts';

/** One upstream target. */
export interface UpstreamTarget {
  /** As configured (may carry a base path). */
  readonly url: string;
  /** `http(s)://host:port`. */
  readonly origin: string;
  /** Path prefix of the target URL without a trailing slash ('' for none). */
  readonly basePath: string;
  readonly pool: Pool;
}

/** Why a version cannot take traffic right now (or `ok`). */
export type Availability = 'ok' | 'open' | 'no_upstream';

/** Options of {@link VersionUpstream}. */
export interface VersionUpstreamOptions {
  model: string;
  name: string;
  config: VersionConfig;
  logger: Logger;
  /** Breaker state changes (for metrics and logs). */
  onBreakerChange?: (state: BreakerState) => void;
}

/** A model version's targets, breaker and health. */
export class VersionUpstream {
  readonly model: string;
  readonly name: string;
  readonly config: VersionConfig;
  readonly breaker: CircuitBreaker;
  readonly balancer: Balancer;
  readonly targets: readonly UpstreamTarget[];
  private readonly logger: Logger;
  private healthTimer: NodeJS.Timeout | undefined;
  private readonly passes: number[];
  private readonly fails: number[];
  private checking = false;
  /** Credential headers for the upstream (values are secrets: never log or return them). */
  private creds: ResolvedCredentials | undefined;

  constructor(opts: VersionUpstreamOptions) {
    this.model = opts.model;
    this.name = opts.name;
    this.config = opts.config;
    this.logger = opts.logger;
    const c = opts.config;
    // First, before any pool exists: an unresolvable reference stops the start or the reload.
    this.creds = this.readCredentials();
    this.breaker = new CircuitBreaker({
      ...c.breaker,
      onChange: (state) => {
        this.logger.warn({ model: this.model, version: this.name, breaker: state }, 'breaker state changed');
        opts.onBreakerChange?.(state);
      },
    });
    this.balancer = new Balancer({
      weights: c.targets.map((t) => t.weight), strategy: c.balance,
      ejectAfter: c.ejection.consecutiveFailures, ejectMs: c.ejection.ejectMs,
    });
    // Read once per version (a missing file stops the start or the reload with its path).
    const connect = c.tls ? upstreamConnectOptions(c.tls, `gateway.models.${opts.model}.versions.${opts.name}.tls`) : undefined;
    this.targets = c.targets.map((t) => {
      const u = new URL(t.url);
      return {
        url: t.url,
        origin: u.origin,
        basePath: u.pathname.replace(/\/+$/, ''),
        pool: new Pool(u.origin, {
          connections: c.connections, connectTimeout: c.connectTimeoutMs, keepAliveTimeout: 10_000,
          headersTimeout: c.timeoutMs, bodyTimeout: c.streamIdleTimeoutMs,
          ...(connect && u.protocol === 'https:' ? { connect } : {}),
        }),
      };
    });
    this.passes = new Array<number>(this.targets.length).fill(0);
    this.fails = new Array<number>(this.targets.length).fill(0);
  }

  /** Resolved credential headers, undefined when the version has none. */
  get credentials(): ResolvedCredentials | undefined {
    return this.creds;
  }

  /** The `model` the upstream gets on the OpenAI routes, undefined to pass the client's. */
  get upstreamModel(): string | undefined {
    return this.config.upstreamModel;
  }

  /** The adapter of the API this version's upstream speaks (`provider` in its config). */
  get provider(): Provider {
    return providerOf(this.config.provider);
  }

  /**
   * Reads the credential references again (a reload of an unchanged version: a rotated secret).
   * @returns a function that puts the new values in force.
   * @throws MLG_GW_CREDENTIAL_UNRESOLVED, leaving the values in force untouched.
   */
  rereadCredentials(): () => void {
    const next = this.readCredentials();
    return () => { this.creds = next; };
  }

  private readCredentials(): ResolvedCredentials | undefined {
    return resolveCredentials(this.config.credentials, `gateway.models.${this.model}.versions.${this.name}.credentials`);
  }

  /** Whether the version can take a request now (breaker and targets). Does not take a permit. */
  availability(): Availability {
    if (!this.balancer.available()) return 'no_upstream';
    return this.breaker.wouldAllow() ? 'ok' : 'open';
  }

  /** Starts the active health checks, if configured. */
  startHealthChecks(): void {
    const h = this.config.health;
    if (!h || this.healthTimer) return;
    this.healthTimer = setInterval(() => {
      if (this.checking) return;
      this.checking = true;
      this.checkAll().catch((err: unknown) => this.logger.error({ err, model: this.model, version: this.name }, 'health check round failed'))
        .finally(() => { this.checking = false; });
    }, h.intervalMs);
    this.healthTimer.unref();
  }

  /** Runs one round of health checks on every target now (also used by tests). */
  async checkAll(): Promise<void> {
    const h = this.config.health;
    if (!h) return;
    await Promise.all(this.targets.map(async (t, i) => {
      let ok: boolean;
      try {
        const res = await t.pool.request({
          method: 'GET', path: `${t.basePath}${h.path}`, headersTimeout: h.timeoutMs, bodyTimeout: h.timeoutMs,
          signal: AbortSignal.timeout(h.timeoutMs),
        });
        await res.body.dump();
        ok = res.statusCode >= 200 && res.statusCode < 300;
      } catch {
        ok = false;
      }
      this.verdict(i, ok);
    }));
  }

  private verdict(i: number, ok: boolean): void {
    const h = this.config.health!;
    const wasHealthy = this.balancer.view()[i]!.healthy;
    if (ok) {
      this.fails[i] = 0;
      if (!wasHealthy && ++this.passes[i]! >= h.healthyThreshold) {
        this.balancer.setHealthy(i, true);
        this.logger.info({ model: this.model, version: this.name, target: this.targets[i]!.origin }, 'target healthy again');
      }
    } else {
      this.passes[i] = 0;
      if (wasHealthy && ++this.fails[i]! >= h.unhealthyThreshold) {
        this.balancer.setHealthy(i, false);
        this.logger.warn({ model: this.model, version: this.name, target: this.targets[i]!.origin }, 'target failed its health checks');
      }
    }
  }

  /** Stops health checks and closes the pools once their in-flight requests end. */
  async close(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => {})));
  }

  /** Closes the pools at once, aborting in-flight requests. */
  async destroy(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    await Promise.all(this.targets.map((t) => t.pool.destroy().catch(() => {})));
  }
}
