/**
 * Response cache, opt-in per version: an LRU per version bounded by entries and bytes, with a
 * TTL. Key: method, path and the keyed input hash (the version is the cache). Only complete 200
 * responses that are not streams are stored. A version's cache is dropped when its weight or
 * state changes ({@link ResponseCache.onState}), so a new model behind a version name (or a
 * tripped version) never serves old answers.
 */
import type { CacheConfig } from './edge-config.ts';

/** A stored response. */
export interface CachedResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

interface Entry extends CachedResponse {
  readonly expires: number;
}

/** One version's LRU (Map order = recency: a hit moves its entry to the end). */
export class Lru {
  private readonly map = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly cfg: CacheConfig, private readonly now: () => number = Date.now) {}

  /** A fresh entry, or undefined (an expired one is dropped). */
  get(key: string): CachedResponse | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    if (e.expires <= this.now()) {
      this.bytes -= e.body.length;
      return undefined;
    }
    this.map.set(key, e);
    return e;
  }

  /** Stores a response; false when it is too large to keep. Evicts the least recently used. */
  set(key: string, r: CachedResponse): boolean {
    if (r.body.length > this.cfg.maxEntryBytes || r.body.length > this.cfg.maxBytes) return false;
    const old = this.map.get(key);
    if (old) { this.map.delete(key); this.bytes -= old.body.length; }
    this.map.set(key, { ...r, expires: this.now() + this.cfg.ttlMs });
    this.bytes += r.body.length;
    for (const [k, e] of this.map) {
      if (this.map.size <= this.cfg.maxEntries && this.bytes <= this.cfg.maxBytes) break;
      this.map.delete(k);
      this.bytes -= e.body.length;
    }
    return true;
  }

  /** Drops everything. */
  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  /** Entries held. */
  get size(): number {
    return this.map.size;
  }

  /** Body bytes held. */
  get byteSize(): number {
    return this.bytes;
  }
}

/** What the cache remembers of a version's routing to notice a change. */
interface Seen {
  weight: number;
  state: string;
}

/** The caches of every cache-enabled version. */
export class ResponseCache {
  private readonly lrus = new Map<string, Lru>();
  private readonly seen = new Map<string, Seen>();

  /** @param configs `model\0version` -> cache settings of enabled versions. */
  constructor(configs: ReadonlyMap<string, CacheConfig>, now: () => number = Date.now) {
    for (const [k, c] of configs) if (c.enabled) this.lrus.set(k, new Lru(c, now));
  }

  /** The LRU of a version, or undefined when it does not cache. */
  of(model: string, version: string): Lru | undefined {
    return this.lrus.size === 0 ? undefined : this.lrus.get(`${model}\0${version}`);
  }

  /** A routing state was applied: drop the caches of versions whose weight or state changed. */
  onState(model: string, versions: ReadonlyArray<{ name: string; weight: number; state: string }>): string[] {
    const dropped: string[] = [];
    for (const v of versions) {
      const k = `${model}\0${v.name}`;
      const before = this.seen.get(k);
      this.seen.set(k, { weight: v.weight, state: v.state });
      if (before && (before.weight !== v.weight || before.state !== v.state)) {
        const lru = this.lrus.get(k);
        if (lru && lru.size > 0) dropped.push(v.name);
        lru?.clear();
      }
    }
    return dropped;
  }

  /** Drops the cache of one version (admin). */
  invalidate(model: string, version: string): void {
    this.lrus.get(`${model}\0${version}`)?.clear();
  }
}

/** The cache key of a request within a version. */
export function cacheKey(method: string, path: string, inputHash: string): string {
  return `${method} ${path} ${inputHash}`;
}
