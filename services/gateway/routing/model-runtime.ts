/**
 * One model at run time: its config, its current routing state, a picker built from the state's
 * weights, and a {@link VersionUpstream} per version. {@link ModelRuntime.route} turns a request's
 * pin header and sticky key into the version that serves it, applying trips, breakers, target
 * health and the fallback.
 */
import type { Role } from '../../telemetry/event.ts';
import type { RoutingState } from '../../routing/state.ts';
import type { ModelConfig } from '../config.ts';
import type { Permit } from './breaker.ts';
import { VersionPicker } from './version-picker.ts';
import { GatewayErrors } from '../errors.ts';
import type { VersionUpstream, Availability } from '../proxy/upstreams.ts';

/** The version chosen for one request and the breaker permit it holds. */
export interface RouteChoice {
  version: VersionUpstream;
  role: Role;
  permit: Permit;
}

/** A model's routing state plus everything derived from it. */
export class ModelRuntime {
  readonly name: string;
  readonly config: ModelConfig;
  readonly versions: ReadonlyMap<string, VersionUpstream>;
  private current!: RoutingState;
  private picker!: VersionPicker;
  private tripped = new Set<string>();
  private stableName = '';

  constructor(name: string, config: ModelConfig, versions: ReadonlyMap<string, VersionUpstream>, state: RoutingState) {
    this.name = name;
    this.config = config;
    this.versions = versions;
    this.setState(state);
  }

  /** The routing state in force. */
  get state(): RoutingState {
    return this.current;
  }

  /** Name of the version events call `stable`; the other weighted versions are `canary`. */
  get stable(): string {
    return this.stableName;
  }

  /** Replaces the state (the caller checked generation and validity). */
  setState(state: RoutingState): void {
    this.current = state;
    this.picker = new VersionPicker(state.versions);
    this.tripped = new Set(state.versions.filter((v) => v.state === 'tripped').map((v) => v.name));
    // Stable: the state's fallback when set (usually the stable version), else the heaviest version.
    let stable = state.fallback ?? '';
    if (!stable) {
      let best = -1;
      for (const v of state.versions) if (v.weight > best) { best = v.weight; stable = v.name; }
    }
    this.stableName = stable;
  }

  /** True when `version` is tripped in the current state. */
  isTripped(version: string): boolean {
    return this.tripped.has(version);
  }

  /**
   * Chooses the version for a request.
   * @param pin value of x-mlgate-version (already allowed by the caller), or undefined.
   * @param stickyKey the consumer id or header value for sticky routing, or undefined.
   * @param random a number in [0,1) for a non-sticky draw.
   * @throws MLG_GW_BAD_REQUEST (unknown pinned version), MLG_GW_CIRCUIT_OPEN, MLG_GW_NO_UPSTREAM.
   */
  route(pin: string | undefined, stickyKey: string | undefined, random: number): RouteChoice {
    if (pin !== undefined) {
      const v = this.versions.get(pin);
      if (!v) {
        const shown = pin.slice(0, 100); // the client's header: never echoed whole
        throw GatewayErrors.badRequest(`model ${this.name} has no version ${shown}`, { details: { model: this.name, version: shown } });
      }
      if (this.tripped.has(pin)) throw GatewayErrors.circuitOpen(`version ${pin} of model ${this.name} ${unavailableWhy(v, 'tripped')}`, { details: { model: this.name, version: pin, reason: 'tripped', retry_after_s: retryAfterS(v, 'tripped') } });
      return { version: v, role: 'pinned', permit: this.take(v, v.availability()) };
    }
    const name = stickyKey !== undefined ? this.picker.pickSticky(stickyKey) : this.picker.pick(random);
    if (name === undefined) throw GatewayErrors.circuitOpen(`model ${this.name} has no version with traffic`, { details: { model: this.name } });
    const chosen = this.versions.get(name)!;
    let why: Availability | 'tripped' = this.tripped.has(name) ? 'tripped' : chosen.availability();
    if (why === 'ok') {
      const permit = chosen.breaker.acquire();
      if (permit) return { version: chosen, role: name === this.stableName ? 'stable' : 'canary', permit };
      why = 'open';
    }
    const fb = this.current.fallback;
    if (fb !== null && fb !== name && !this.tripped.has(fb)) {
      const f = this.versions.get(fb)!;
      const fWhy = f.availability();
      if (fWhy === 'ok') {
        const permit = f.breaker.acquire();
        if (permit) return { version: f, role: 'fallback', permit };
      }
    }
    const details = { model: this.name, version: name, reason: why, retry_after_s: retryAfterS(chosen, why) };
    const fbText = fb !== null && fb !== name ? `its fallback ${fb} cannot serve either` : 'it has no fallback';
    if (why === 'no_upstream') throw GatewayErrors.noUpstream(`version ${name} of model ${this.name} ${noTargetWhy(chosen)}, and ${fbText}`, { details });
    throw GatewayErrors.circuitOpen(`version ${name} of model ${this.name} ${unavailableWhy(chosen, why)}, and ${fbText}`, { details });
  }

  private take(v: VersionUpstream, why: Availability): Permit {
    const details = { model: this.name, version: v.name, reason: why, retry_after_s: retryAfterS(v, why === 'ok' ? 'open' : why) };
    if (why === 'no_upstream') throw GatewayErrors.noUpstream(`version ${v.name} of model ${this.name} ${noTargetWhy(v)}`, { details });
    const permit = why === 'ok' ? v.breaker.acquire() : undefined;
    if (!permit) throw GatewayErrors.circuitOpen(`version ${v.name} of model ${this.name} ${unavailableWhy(v, 'open')}`, { details });
    return permit;
  }
}

/** Why a version has no target to send to, in words that match its config. */
function noTargetWhy(v: VersionUpstream): string {
  const h = v.config.health;
  const n = v.targets.length;
  if (h) return `has no usable target: ${n === 1 ? 'its target' : `all ${n} targets`} failed ${h.unhealthyThreshold} active health check(s) in a row (GET ${h.path})`;
  return 'has no usable target';
}

/** Why a version takes no request now. */
function unavailableWhy(v: VersionUpstream, why: Availability | 'tripped'): string {
  if (why === 'tripped') return 'is tripped (its traffic share goes to the fallback until it is reset)';
  const s = v.breaker.state;
  if (s === 'half_open') return 'has its circuit breaker half-open and every probe slot taken';
  return `has its circuit breaker open after too many upstream failures (probes in ${Math.ceil(v.breaker.msUntilHalfOpen() / 1000)} s)`;
}

/** Seconds a client should wait before retrying (Retry-After of the 503). */
function retryAfterS(v: VersionUpstream, why: Availability | 'tripped'): number {
  if (why === 'open') return Math.max(1, Math.ceil(v.breaker.msUntilHalfOpen() / 1000));
  if (why === 'no_upstream' && v.config.health) return Math.max(1, Math.ceil(v.config.health.intervalMs / 1000));
  if (why === 'tripped') return 30;
  return 1;
}
