/**
 * Admin changes to the edge's consumers and API key hashes: validate with the config's own
 * schemas, record (key material reduced to key ids), then swap the whole table with
 * `ConsumerTable.replace`. Changes are serialised so two concurrent ones cannot lose each other.
 * A change that fails validation leaves the table as it was (MLG_GW_ADMIN_INVALID).
 *
 * Distributed mode ({@link ConsumerAdmin.attach}): each applied change is also published as a
 * whole table with a new generation on the consumer channel (services/routing/consumer-state.ts),
 * and tables published by other gateways are applied here when their generation is higher, so a
 * change made through one gateway reaches all of them and survives restarts.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Logger } from '../../core/log.ts';
import type { AdminAction, AdminChange } from '../../ledger/admin-changes.ts';
import { nextConsumerGeneration, type ConsumerChannel, type ConsumerState } from '../../routing/consumer-state.ts';
import { API_KEY_HASH_PATTERN } from '../edge/api-keys.ts';
import type { ConsumerTable } from '../edge/consumers.ts';
import { ConsumerIdSchema, ConsumerSchema, type ConsumerConfig } from '../edge/edge-config.ts';
import { GatewayErrors } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';

type Consumers = Readonly<Record<string, ConsumerConfig>>;

/** What the admin API shows (and records) of a consumer: key ids, never hashes or keys. */
export interface ConsumerView {
  id: string;
  models: string[];
  pin: boolean | string[];
  limits: ConsumerConfig['limits'] | null;
  key_ids: string[];
}

/** Result of a consumer change. */
export interface ConsumerChangeResult {
  change_id: string;
  consumer: ConsumerView | null;
}

/** Options of {@link ConsumerAdmin}. */
export interface ConsumerAdminOptions {
  /** The edge's table; undefined when the edge is off (no consumers and no auth at start). */
  table: ConsumerTable | undefined;
  /** Names of the configured models (checked against a consumer's models, pins and limits). */
  models: () => Iterable<string>;
  /** Records a change; a rejection means "not applied". */
  record: (change: AdminChange) => Promise<void>;
  metrics: GatewayMetrics;
  logger: Logger;
  /** This gateway's id (in the cause of the tables it publishes). */
  gatewayId?: string;
}

const keyIdOf = (hash: string): string => hash.split(':')[1]!;

/** Consumer `id` of a table, by own property only: ids come from URLs (`constructor`, `__proto__`). */
const own = (consumers: Consumers, id: string): ConsumerConfig | undefined => (Object.hasOwn(consumers, id) ? consumers[id] : undefined);

/** The recorded / listed form of a consumer. */
export function viewOf(id: string, c: ConsumerConfig): ConsumerView {
  return { id, models: [...c.models], pin: typeof c.pin === 'boolean' ? c.pin : [...c.pin], limits: c.limits ?? null, key_ids: c.keys.map(keyIdOf) };
}

/** Every consumer's view, reduced to key ids (for records of a reload). */
export function viewsOf(consumers: Consumers): ConsumerView[] {
  return Object.entries(consumers).map(([id, c]) => viewOf(id, c));
}

const issues = (prefix: string, e: { issues: Array<{ path: PropertyKey[]; message: string }> }): string =>
  e.issues.map((i) => `${[prefix, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');

/** Consumer and key admin operations. */
export class ConsumerAdmin {
  private queue: Promise<unknown> = Promise.resolve();
  /** Generation of the table in force: 0 = the configuration file's. */
  private generation = 0;
  private channel: ConsumerChannel | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: ConsumerAdminOptions) {}

  /** True when the edge is on (there is a consumer table to change). */
  get enabled(): boolean {
    return this.opts.table !== undefined;
  }

  /** Generation of the consumer table in force (0: the file's). */
  get tableGeneration(): number {
    return this.generation;
  }

  /**
   * Follows `channel`: applies the latest published table (it wins over the file), then every
   * newer one, and publishes this gateway's changes there. Without an edge it does nothing.
   * Rejects when the channel cannot be read (the caller decides whether to serve without it).
   */
  async attach(channel: ConsumerChannel): Promise<void> {
    if (!this.opts.table) return;
    this.channel = channel;
    this.unsubscribe ??= channel.subscribe((s) => { this.offer(s); });
    const latest = await channel.readLatest();
    if (latest) this.offer(latest);
  }

  /** Stops following the channel (the channel itself is closed by its owner). */
  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.channel = undefined;
  }

  /**
   * Applies a published table when its generation is higher than the one in force and every
   * consumer in it is valid here (a table naming an unknown model or a bad key hash is refused
   * whole, logged, and the table in force stays). Returns whether it was applied.
   */
  offer(state: ConsumerState): boolean {
    const table = this.opts.table;
    if (!table || state.generation <= this.generation) return false;
    const next: Record<string, ConsumerConfig> = {};
    try {
      for (const [id, raw] of Object.entries(state.consumers)) {
        this.checkId(id);
        const r = ConsumerSchema.safeParse(raw);
        if (!r.success) throw GatewayErrors.adminInvalid(`invalid consumer: ${issues(`consumers.${id}`, r.error)}`);
        this.checkModels(id, r.data);
        next[id] = r.data;
      }
    } catch (err) {
      this.opts.logger.warn({ err, generation: state.generation, change_id: state.cause.id }, 'published consumer table refused (not applied here)');
      return false;
    }
    table.replace(next);
    this.generation = state.generation;
    this.opts.logger.info({ generation: state.generation, change_id: state.cause.id, from: state.cause.gateway }, 'consumer table applied from the consumer channel');
    return true;
  }

  /** Every consumer (key ids only). @throws MLG_GW_ADMIN_INVALID when the edge is off */
  list(): ConsumerView[] {
    return viewsOf(this.table().config);
  }

  /** One consumer. @throws MLG_GW_ADMIN_INVALID when it does not exist */
  get(id: string): ConsumerView {
    const c = own(this.table().config, id);
    if (!c) throw GatewayErrors.adminInvalid(`consumer ${id.slice(0, 100)} does not exist`);
    return viewOf(id, c);
  }

  /** Adds or replaces consumer `id` with `raw` (the config's consumer shape, validated here). */
  upsert(actor: string, id: string, raw: unknown, reason: string): Promise<ConsumerChangeResult> {
    return this.change(actor, 'consumer.upsert', `consumer:${id}`, reason, (current) => {
      this.checkId(id);
      const r = ConsumerSchema.safeParse(raw);
      if (!r.success) throw GatewayErrors.adminInvalid(`invalid consumer: ${issues(`consumers.${id}`, r.error)}`);
      this.checkModels(id, r.data);
      this.checkKeyIds(id, r.data.keys, current, `consumers.${id}.keys`);
      return { next: { ...current, [id]: r.data }, id };
    });
  }

  /** Removes consumer `id` (its keys stop working at once). */
  remove(actor: string, id: string, reason: string): Promise<ConsumerChangeResult> {
    return this.change(actor, 'consumer.remove', `consumer:${id}`, reason, (current) => {
      if (!own(current, id)) throw GatewayErrors.adminInvalid(`consumer ${id.slice(0, 100)} does not exist`);
      const next = { ...current };
      delete next[id];
      return { next, id };
    });
  }

  /** Adds a key hash (`sha256:<key id>:<hex>`, from `mlgate keys`) to consumer `id`. */
  addKey(actor: string, id: string, hash: unknown, reason: string): Promise<ConsumerChangeResult> {
    const keyId = typeof hash === 'string' && API_KEY_HASH_PATTERN.test(hash) ? keyIdOf(hash) : '?';
    return this.change(actor, 'key.add', `key:${keyId}`, reason, (current) => {
      const c = own(current, id);
      if (!c) throw GatewayErrors.adminInvalid(`consumer ${id.slice(0, 100)} does not exist`);
      const r = ConsumerSchema.shape.keys.safeParse([...c.keys, hash]);
      if (!r.success) throw GatewayErrors.adminInvalid(`invalid key: ${issues(`consumers.${id}.keys`, r.error)}`);
      this.checkKeyIds(id, r.data, current, `consumers.${id}.keys`);
      return { next: { ...current, [id]: { ...c, keys: r.data } }, id };
    });
  }

  /** Revokes every key hash with key id `keyId`, whoever holds it. */
  revokeKey(actor: string, keyId: string, reason: string): Promise<ConsumerChangeResult> {
    return this.change(actor, 'key.revoke', `key:${keyId}`, reason, (current) => {
      if (!/^[0-9a-f]{8}$/.test(keyId)) throw GatewayErrors.adminInvalid('invalid key id: keyId: expected 8 hex digits (the <id> of sha256:<id>:<hex>)');
      const owner = Object.keys(current).find((cid) => current[cid]!.keys.some((h) => keyIdOf(h) === keyId));
      if (owner === undefined) throw GatewayErrors.adminInvalid(`no consumer has a key with id ${keyId.slice(0, 20)}`);
      const next: Record<string, ConsumerConfig> = {};
      for (const [cid, c] of Object.entries(current)) next[cid] = { ...c, keys: c.keys.filter((h) => keyIdOf(h) !== keyId) };
      return { next, id: owner };
    });
  }

  /** Replaces the table with the file's consumers (reload); the caller has recorded it. Published like a change when attached. */
  replaceFromFile(consumers: Consumers, cause?: { actor: string; id: string; at: number }): void {
    this.opts.table?.replace(consumers);
    if (cause && this.channel) void this.publish(consumers, { ...cause, action: 'reload' });
  }

  /** Publishes the table in force as the next generation; false when it could not (logged: the change stays local). */
  private async publish(consumers: Consumers, cause: { actor: string; action: string; id: string; at: number }): Promise<boolean> {
    const channel = this.channel;
    if (!channel) return false;
    this.generation = nextConsumerGeneration(this.generation, cause.at);
    try {
      await channel.publish({ generation: this.generation, consumers: { ...consumers }, cause: { ...cause, gateway: this.opts.gatewayId ?? '' } });
      return true;
    } catch (err) {
      this.opts.logger.error({ err, change_id: cause.id }, 'consumer table not published: the change is applied on this gateway only');
      return false;
    }
  }

  private table(): ConsumerTable {
    const t = this.opts.table;
    if (!t) throw GatewayErrors.adminInvalid('the edge is off on this gateway (no consumers or auth in its config at start); turning it on needs a restart');
    return t;
  }

  private checkId(id: string): void {
    const r = ConsumerIdSchema.safeParse(id);
    if (!r.success) throw GatewayErrors.adminInvalid(`invalid consumer id: consumers.${id.slice(0, 100)}: ${r.error.issues[0]!.message}`);
  }

  /** Admin changes are stricter than the file: every model named must be configured. */
  private checkModels(id: string, c: ConsumerConfig): void {
    const known = new Set(this.opts.models());
    const bad = (names: readonly string[], pathOf: (i: number) => string) => {
      const i = names.findIndex((n) => n !== '*' && !known.has(n));
      if (i >= 0) throw GatewayErrors.adminInvalid(`invalid consumer: consumers.${id}.${pathOf(i)}: unknown model ${names[i]}`);
    };
    bad(c.models, (i) => `models.${i}`);
    if (Array.isArray(c.pin)) bad(c.pin, (i) => `pin.${i}`);
    const limited = Object.keys(c.limits?.models ?? {});
    bad(limited, (i) => `limits.models.${limited[i]}`);
  }

  /** Key ids must be unique across consumers (revoke names a key by its id). */
  private checkKeyIds(id: string, keys: readonly string[], current: Consumers, path: string): void {
    const seen = new Map<string, string>();
    for (const [cid, c] of Object.entries(current)) if (cid !== id) for (const h of c.keys) seen.set(keyIdOf(h), cid);
    keys.forEach((h, i) => {
      const k = keyIdOf(h);
      const other = seen.get(k);
      if (other !== undefined) throw GatewayErrors.adminInvalid(`invalid key: ${path}.${i}: key id ${k} is already used by consumer ${other === id ? 'itself' : other}`);
      seen.set(k, id);
    });
  }

  private change(actor: string, action: AdminAction, target: string, reason: string,
    plan: (current: Consumers) => { next: Consumers; id: string }): Promise<ConsumerChangeResult> {
    const run = async (): Promise<ConsumerChangeResult> => {
      const table = this.table();
      const current = table.config;
      const { next, id } = plan(current);
      const was = own(current, id);
      const will = own(next, id);
      const before = was ? viewOf(id, was) : null;
      const after = will ? viewOf(id, will) : null;
      const changeId = uuidv7();
      await this.opts.record({ id: changeId, actor, action, target, before, after, at: Date.now(), reason });
      // A reload may have reset the table while this change was being recorded.
      if (table.config !== current) throw GatewayErrors.adminConflict('the consumers changed (reload) while the change was recorded; retry', { details: { change_id: changeId } });
      table.replace(next);
      await this.publish(next, { actor, action, id: changeId, at: Date.now() });
      this.opts.metrics.adminChanges.labels(action).inc();
      this.opts.logger.info({ change_id: changeId, actor, action, target }, 'admin change applied');
      return { change_id: changeId, consumer: after };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }
}
