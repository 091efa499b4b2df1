/**
 * The consumer table: who exists, their key index, models, pinning and limits. Built from the
 * config and replaced as a whole by an admin change (readers see the old or the new table,
 * never half of one).
 */
import type { Consumer } from '../proxy/edge-hooks.ts';
import { ApiKeyIndex } from './api-keys.ts';
import type { ConsumerConfig, ConsumerLimits } from './edge-config.ts';

/** A model grant: every model, or a set of names. */
export type ModelGrant = '*' | ReadonlySet<string>;

/** A consumer the edge identified, with what it may do. `id` is what events carry. */
export interface EdgeConsumer extends Consumer {
  readonly id: string;
  readonly models: ModelGrant;
  readonly pin: boolean | ReadonlySet<string>;
  readonly limits: ConsumerLimits | undefined;
  /** How it proved itself. */
  readonly via: 'api_key' | 'jwt';
}

/** Turns a list of model names (maybe with `*`) into a grant. */
export function grantOf(models: readonly string[]): ModelGrant {
  return models.includes('*') ? '*' : new Set(models);
}

/** The configured consumers. */
export class ConsumerTable {
  private byId = new Map<string, Omit<EdgeConsumer, 'via'>>();
  private keys = new ApiKeyIndex([]);
  private raw: Readonly<Record<string, ConsumerConfig>> = {};

  constructor(consumers: Readonly<Record<string, ConsumerConfig>>) {
    this.replace(consumers);
  }

  /** Replaces every consumer at once. */
  replace(consumers: Readonly<Record<string, ConsumerConfig>>): void {
    const byId = new Map<string, Omit<EdgeConsumer, 'via'>>();
    for (const [id, c] of Object.entries(consumers)) {
      byId.set(id, Object.freeze({ id, models: grantOf(c.models), pin: typeof c.pin === 'boolean' ? c.pin : new Set(c.pin), limits: c.limits }));
    }
    this.keys = new ApiKeyIndex(Object.entries(consumers).map(([id, c]) => [id, c.keys] as const));
    this.byId = byId;
    this.raw = Object.freeze({ ...consumers });
  }

  /** The consumers as configured (for the admin API: hashes only, never keys). */
  get config(): Readonly<Record<string, ConsumerConfig>> {
    return this.raw;
  }

  /** The consumer owning an API key, or undefined. */
  byApiKey(key: string): EdgeConsumer | undefined {
    const id = this.keys.lookup(key);
    const c = id === undefined ? undefined : this.byId.get(id);
    return c && { ...c, via: 'api_key' };
  }

  /** A configured consumer by id. */
  get(id: string): Omit<EdgeConsumer, 'via'> | undefined {
    return this.byId.get(id);
  }

  /** Number of consumers. */
  get size(): number {
    return this.byId.size;
  }
}
