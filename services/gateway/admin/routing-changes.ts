/**
 * What admin changes do, apart from HTTP: validate, record (who, what, when), apply with a new
 * generation, publish on the control channel. A change that fails validation changes nothing
 * (MLG_GW_ADMIN_INVALID); one that cannot be recorded is not applied (MLG_GW_ADMIN_RECORD_FAILED).
 */
import { v7 as uuidv7 } from 'uuid';
import type { Logger } from '../../core/log.ts';
import type { AdminAction, AdminChange, AdminChangeRecorder } from '../../ledger/admin-changes.ts';
import type { ControlChannel } from '../../routing/channel.ts';
import { nextGeneration, RoutingStateSchema, type RoutingState } from '../../routing/state.ts';
import type { GatewayConfig } from '../config.ts';
import { ConsumerAdmin, viewsOf } from './consumer-changes.ts';
import type { ConsumerTable } from '../edge/consumers.ts';
import { GatewayErrors } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { ModelRuntime } from '../routing/model-runtime.ts';
import { configMismatch, type RoutingTable } from '../routing/table.ts';

/** Options of {@link AdminService}. */
export interface AdminServiceOptions {
  gatewayId: string;
  table: RoutingTable;
  recorder: AdminChangeRecorder;
  metrics: GatewayMetrics;
  logger: Logger;
  control?: ControlChannel | undefined;
  /** The edge's consumer table (admin consumer and key changes); absent = the edge is off. */
  consumers?: ConsumerTable | undefined;
  /** Re-reads the config (the CLI passes one that reads the file); absent = reload unavailable. */
  reload?: (() => GatewayConfig | Promise<GatewayConfig>) | undefined;
}

/** Result of a change. */
export interface ChangeResult {
  change_id: string;
  state?: RoutingState | undefined;
  published: boolean;
  summary?: unknown;
}

/**
 * Fields that only take effect on restart; a reload that changes them is refused. The edge
 * (`auth`, `rateLimits`, `tokenBudgets`: the JWT verifier, key lookup, token buckets), the HTTPS listener (`tls`)
 * and the event worker are built once at start: a reload that reported them applied would leave an
 * operator believing, say, that a new JWT audience or a new limit is enforced when it is not.
 */
const RESTART_ONLY = ['id', 'host', 'port', 'listener', 'maxBodyBytes', 'shutdownTimeoutMs', 'admin', 'tracing', 'auth', 'rateLimits', 'tokenBudgets', 'tls', 'eventWorker'] as const;

/** Admin operations. */
export class AdminService {
  /** Consumer and API key changes (same validate-record-apply path). */
  readonly consumers: ConsumerAdmin;
  /** The file's consumers as last applied (start or reload): a reload resets only when they changed. */
  private fileConsumers: string;

  constructor(private readonly opts: AdminServiceOptions) {
    this.consumers = new ConsumerAdmin({
      table: opts.consumers, models: () => Object.keys(opts.table.gatewayConfig.models),
      record: (c) => this.record(c), metrics: opts.metrics, logger: opts.logger, gatewayId: opts.gatewayId,
    });
    this.fileConsumers = JSON.stringify(opts.table.gatewayConfig.consumers ?? {});
  }

  /** The recorder in use. */
  get recorder(): AdminChangeRecorder {
    return this.opts.recorder;
  }

  /** Every model's state, breakers and targets. */
  describe(): { gateway_id: string; models: unknown[] } {
    return { gateway_id: this.opts.gatewayId, models: [...this.opts.table.all()].map((m) => this.view(m)) };
  }

  /** One model's view. @throws MLG_GW_UNKNOWN_MODEL */
  describeModel(model: string): unknown {
    return this.view(this.model(model));
  }

  private view(m: ModelRuntime): unknown {
    return {
      model: m.name,
      state: m.state,
      stable: m.stable,
      shadow: m.config.shadow ?? null,
      versions: [...m.versions.values()].map((v) => ({
        name: v.name,
        breaker: v.breaker.state,
        available: m.isTripped(v.name) ? 'tripped' : v.availability(),
        targets: v.balancer.view().map((t) => ({ url: v.targets[t.index]!.url, healthy: t.healthy, ejected: t.ejected, inflight: t.inflight })),
      })),
    };
  }

  private model(model: string): ModelRuntime {
    const m = this.opts.table.get(model);
    if (!m) throw GatewayErrors.unknownModel(`model ${model.slice(0, 200)} is not configured`);
    return m;
  }

  /** Sets weights (unnamed versions keep theirs; the result must sum to 100). */
  async setWeights(actor: string, model: string, weights: Record<string, number>, reason: string, rolloutId?: string): Promise<ChangeResult> {
    const m = this.model(model);
    const before = m.state;
    const versions = before.versions.map((v) => ({ ...v }));
    for (const [name, w] of Object.entries(weights)) {
      if (!Object.hasOwn(m.config.versions, name)) throw GatewayErrors.adminInvalid(`model ${model} has no version ${name}`);
      const v = versions.find((x) => x.name === name);
      if (v) v.weight = w;
      else versions.push({ name, weight: w, state: 'active' });
    }
    const next = { ...before, versions, ...(rolloutId !== undefined ? { rollout_id: rolloutId } : {}) };
    return this.apply(actor, 'set_weights', model, m, next, reason);
  }

  /** Trips a version (its share goes to the fallback) or resets it (active, breaker closed). */
  async setVersionState(actor: string, model: string, version: string, action: 'trip' | 'reset', reason: string): Promise<ChangeResult> {
    const m = this.model(model);
    const v = m.versions.get(version);
    if (!v) throw GatewayErrors.adminInvalid(`model ${model} has no version ${version}`);
    const before = m.state;
    const want = action === 'trip' ? 'tripped' : 'active';
    const has = before.versions.some((x) => x.name === version);
    const versions = has ? before.versions.map((x) => (x.name === version ? { ...x, state: want } as const : x))
      : [...before.versions, { name: version, weight: 0, state: want } as const];
    const unchanged = has && before.versions.find((x) => x.name === version)!.state === want;
    const result = await this.apply(actor, action, `${model}/${version}`, m, unchanged ? undefined : { ...before, versions }, reason);
    if (action === 'reset') v.breaker.reset(); // local to this gateway: breakers are not shared
    return result;
  }

  private async apply(actor: string, action: AdminAction, target: string, m: ModelRuntime, proposed: RoutingState | undefined, reason: string): Promise<ChangeResult> {
    const id = uuidv7();
    const at = Date.now();
    const before = m.state;
    let next: RoutingState | undefined;
    if (proposed) {
      const candidate = { ...proposed, generation: nextGeneration(before, at), cause: { kind: 'admin' as const, actor, reason, id, at } };
      const r = RoutingStateSchema.safeParse(candidate);
      if (!r.success) throw GatewayErrors.adminInvalid(`the change would make an invalid state: ${r.error.issues.map((i) => `${i.path.join('.') || '(state)'}: ${i.message}`).join('; ')}`);
      const mismatch = configMismatch(r.data, m.config);
      if (mismatch) throw GatewayErrors.adminInvalid(mismatch);
      next = r.data;
    }
    await this.record({ id, actor, action, target, before, after: next ?? before, at, reason });
    let published = false;
    if (next) {
      const r = this.opts.table.offer(next, 'admin');
      if (!r.applied) throw GatewayErrors.adminConflict(`a newer routing state arrived for ${m.name} while the change was recorded: ${r.reason}`, { details: { change_id: id } });
      published = await this.publish(next);
    }
    this.opts.metrics.adminChanges.labels(action).inc();
    this.opts.logger.info({ change_id: id, actor, action, target, generation: next?.generation }, 'admin change applied');
    return { change_id: id, state: next ?? before, published };
  }

  /** Re-reads the config and applies it (pools and breakers of unchanged versions stay). */
  async reload(actor: string, reason: string): Promise<ChangeResult> {
    if (!this.opts.reload) throw GatewayErrors.adminReloadUnavailable('this gateway has no config file to reload');
    let next: GatewayConfig;
    try {
      next = await this.opts.reload();
    } catch (err) {
      throw GatewayErrors.adminInvalid(`the new config is invalid: ${(err as Error).message}`, { cause: err });
    }
    const current = this.opts.table.gatewayConfig;
    const restart = RESTART_ONLY.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
    if (restart.length) throw GatewayErrors.adminInvalid(`these fields only change on restart: ${restart.map((k) => `gateway.${k}`).join(', ')}`);
    const id = uuidv7();
    const at = Date.now();
    const plan = this.opts.table.planReload(next, { actor, reason: reason || 'config reloaded', id, at });
    // The file's consumers replace the live table (admin changes included) only when the file's
    // `consumers` changed since start or the last reload; that reset is part of this record.
    const fileConsumers = JSON.stringify(next.consumers ?? {});
    const resetConsumers = this.opts.consumers !== undefined && fileConsumers !== this.fileConsumers;
    const consumers = resetConsumers ? { before: viewsOf(this.opts.consumers!.config), after: viewsOf(next.consumers ?? {}) } : undefined;
    try {
      await this.record({ id, actor, action: 'reload', target: 'config', before: this.opts.table.states(), after: { summary: plan.summary, states: plan.states, ...(consumers ? { consumers } : {}) }, at, reason });
    } catch (err) {
      await plan.abandon();
      throw err;
    }
    plan.commit();
    if (resetConsumers) {
      this.consumers.replaceFromFile(next.consumers ?? {}, { actor, id, at });
      this.fileConsumers = fileConsumers;
    }
    let published = true;
    for (const s of plan.states) published = (await this.publish(s)) && published;
    this.opts.metrics.adminChanges.labels('reload').inc();
    this.opts.logger.info({ change_id: id, actor, ...plan.summary }, 'config reloaded');
    return { change_id: id, published, summary: { ...plan.summary, consumers: resetConsumers ? 'from_file' : 'kept' } };
  }

  private async record(change: AdminChange): Promise<void> {
    try {
      await this.opts.recorder.record(change);
    } catch (err) {
      this.opts.logger.error({ err, change_id: change.id, action: change.action }, 'admin change not recorded; not applied');
      throw GatewayErrors.adminRecordFailed('the change could not be recorded, so it was not applied', { cause: err });
    }
  }

  private async publish(state: RoutingState): Promise<boolean> {
    if (!this.opts.control) return false;
    try {
      await this.opts.control.publish(state);
      return true;
    } catch (err) {
      this.opts.logger.error({ err, model: state.model, generation: state.generation }, 'routing state applied here but not published');
      return false;
    }
  }
}
