/**
 * All models at run time, and the only place routing states are applied. States come from the
 * config (generation 0), the control channel and the admin API; each goes through
 * {@link RoutingTable.offer}: valid for this config and a higher generation, or refused.
 */
import type { Logger } from '../../core/log.ts';
import { applyIfNewer, declaredState, nextGeneration, stateMismatch, type ApplyResult, type RoutingCause, type RoutingState } from '../../routing/state.ts';
import { configuredWeights, type GatewayConfig, type ModelConfig } from '../config.ts';
import type { BreakerState } from './breaker.ts';
import { ModelRuntime } from './model-runtime.ts';
import { VersionUpstream } from '../proxy/upstreams.ts';

/** Options of {@link RoutingTable}. */
export interface RoutingTableOptions {
  config: GatewayConfig;
  logger: Logger;
  /** A breaker changed state. */
  onBreakerChange?: (model: string, version: string, state: BreakerState) => void;
  /** A state was applied (or a model removed: state undefined). */
  onStateApplied?: (model: string, state: RoutingState | undefined) => void;
}

/** What a reload would do; call `commit()` to make it so. */
export interface ReloadPlan {
  /** States that change (to publish once committed). */
  readonly states: RoutingState[];
  /** Models added, removed and whose versions changed. */
  readonly summary: { added: string[]; removed: string[]; changed: string[] };
  commit(): void;
  /** Releases what the plan built when it is not committed. */
  abandon(): Promise<void>;
}

/** The state a model's config declares: generation 0, cause `config` (routing/state.ts, `declaredState`). */
export function stateFromConfig(model: string, m: ModelConfig, cause?: Partial<RoutingCause>, generation = 0): RoutingState {
  return declaredState(model, Object.keys(m.versions), configuredWeights(m), m.fallback ?? null, cause, generation);
}

/** Why `state` does not fit model config `m` (routing/state.ts, `stateMismatch`), or undefined when it fits. */
export function configMismatch(state: RoutingState, m: ModelConfig | undefined): string | undefined {
  return stateMismatch(state, m && Object.keys(m.versions));
}

/** Models by name with their live state. */
export class RoutingTable {
  private models = new Map<string, ModelRuntime>();
  private config: GatewayConfig;
  private readonly opts: RoutingTableOptions;

  constructor(opts: RoutingTableOptions) {
    this.opts = opts;
    this.config = opts.config;
    for (const [name, m] of Object.entries(opts.config.models)) {
      const rt = new ModelRuntime(name, m, this.buildVersions(name, m, undefined), stateFromConfig(name, m));
      this.models.set(name, rt);
      opts.onStateApplied?.(name, rt.state);
    }
  }

  /** The config the table was built from (after reloads, the latest). */
  get gatewayConfig(): GatewayConfig {
    return this.config;
  }

  /** The runtime of a model, or undefined. */
  get(model: string): ModelRuntime | undefined {
    return this.models.get(model);
  }

  /** Every model runtime. */
  all(): IterableIterator<ModelRuntime> {
    return this.models.values();
  }

  /** Current state of every model. */
  states(): RoutingState[] {
    return [...this.models.values()].map((m) => m.state);
  }

  /** Applies `state` when it fits the config and its generation is higher. Never throws. */
  offer(state: RoutingState, source: string): ApplyResult {
    const rt = this.models.get(state.model);
    const mismatch = configMismatch(state, rt?.config);
    if (mismatch || !rt) {
      this.opts.logger.warn({ model: state.model, generation: state.generation, source, reason: mismatch }, 'routing state refused');
      return { applied: false, state: rt?.state, reason: mismatch ?? 'unknown model' };
    }
    const r = applyIfNewer(rt.state, state);
    if (r.applied) {
      rt.setState(state);
      this.opts.logger.info({ model: state.model, generation: state.generation, source, cause: state.cause.kind, actor: state.cause.actor }, 'routing state applied');
      this.opts.onStateApplied?.(state.model, state);
    }
    return r;
  }

  /** Starts health checks of every version. */
  startHealthChecks(): void {
    for (const m of this.models.values()) for (const v of m.versions.values()) v.startHealthChecks();
  }

  /**
   * Plans a reload to `next`. Versions whose config is unchanged keep their pools, breakers and
   * health; a model keeps its live state unless the file's weights or fallback changed or the
   * live state no longer fits, in which case the file's state applies with a new generation.
   */
  planReload(next: GatewayConfig, cause: Omit<RoutingCause, 'kind'>): ReloadPlan {
    const added: string[] = [];
    const changed: string[] = [];
    const removed = [...this.models.keys()].filter((m) => !Object.hasOwn(next.models, m));
    const built = new Map<string, ModelRuntime>();
    const fresh: VersionUpstream[] = [];
    const states: RoutingState[] = [];
    // Kept versions read their credential files again; the new values apply at commit.
    const rotations: Array<() => void> = [];
    for (const [name, m] of Object.entries(next.models)) {
      const old = this.models.get(name);
      let versions: Map<string, VersionUpstream>;
      try {
        versions = this.buildVersions(name, m, old, fresh, rotations);
      } catch (err) {
        for (const v of fresh) void v.destroy();
        throw err;
      }
      const oldM = old?.config;
      const fileChanged = !oldM || JSON.stringify(configuredWeights(oldM)) !== JSON.stringify(configuredWeights(m)) || (oldM.fallback ?? null) !== (m.fallback ?? null);
      let state = old?.state;
      if (!state || fileChanged || configMismatch(state, m)) {
        state = stateFromConfig(name, m, { ...cause, kind: 'config' }, old ? nextGeneration(old.state) : 0);
        if (old) states.push(state);
      }
      if (!old) added.push(name);
      else if (JSON.stringify(oldM) !== JSON.stringify(m)) changed.push(name);
      built.set(name, new ModelRuntime(name, m, versions, state));
    }
    return {
      states,
      summary: { added, removed, changed },
      commit: () => {
        for (const r of rotations) r();
        const previous = this.models;
        this.models = built;
        this.config = next;
        const kept = new Set<VersionUpstream>();
        for (const m of built.values()) for (const v of m.versions.values()) kept.add(v);
        for (const m of previous.values()) for (const v of m.versions.values()) if (!kept.has(v)) void v.close();
        for (const m of built.values()) {
          for (const v of m.versions.values()) v.startHealthChecks();
          this.opts.onStateApplied?.(m.name, m.state);
        }
        for (const r of removed) this.opts.onStateApplied?.(r, undefined);
      },
      abandon: async () => { await Promise.all(fresh.map((v) => v.destroy())); },
    };
  }

  /** Closes every pool (after in-flight requests end). */
  async close(): Promise<void> {
    await Promise.all([...this.models.values()].flatMap((m) => [...m.versions.values()].map((v) => v.close())));
  }

  /** Aborts every upstream request and closes the pools. */
  async destroy(): Promise<void> {
    await Promise.all([...this.models.values()].flatMap((m) => [...m.versions.values()].map((v) => v.destroy())));
  }

  private buildVersions(model: string, m: ModelConfig, old: ModelRuntime | undefined, fresh?: VersionUpstream[], rotations?: Array<() => void>): Map<string, VersionUpstream> {
    const out = new Map<string, VersionUpstream>();
    for (const [name, vc] of Object.entries(m.versions)) {
      const prev = old?.versions.get(name);
      if (prev && JSON.stringify(prev.config) === JSON.stringify(vc)) {
        if (vc.credentials) rotations?.push(prev.rereadCredentials());
        out.set(name, prev);
        continue;
      }
      const v = new VersionUpstream({
        model, name, config: vc, logger: this.opts.logger,
        onBreakerChange: (s) => this.opts.onBreakerChange?.(model, name, s),
      });
      fresh?.push(v);
      out.set(name, v);
    }
    return out;
  }
}
