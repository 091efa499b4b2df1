/**
 * Erasures applied at ingest. An erasure (services/audit/erasure.ts) deletes the rows `requests`
 * holds at that moment; an event of the same consumer or payload still waiting on its way (in a
 * gateway's spill, in the local log, in the Kafka topic) would reach ClickHouse afterwards and
 * bring the erased data back. So before each insert the ingester drops every row that an earlier
 * erasure covers: its selector matches the row AND the event's `ts` is at or before the
 * erasure's `ts` (a consumer that goes on using the service after its erasure has its new
 * requests stored).
 *
 * Matching, per selector kind of `erasure_log`:
 * - `input_hash`: the row's `input_hash` equals the logged hash (input hashes are keyed already).
 * - `consumer`: the log holds `hasher.hashValue({ consumer_id })` of the raw id (the value of
 *   `requests.consumer_id`), so the row's consumer id is hashed the same way and compared. It
 *   needs the gateways' hash key (`telemetry.hashing`) and only matches erasures logged under this
 *   key id; without the key, or for erasures under another key id, consumer erasures cannot be
 *   applied here (a warning, once).
 * - `subject`: not matched. The v1 event has no subject field, so a subject column is filled
 *   outside the ingester (a warning, once, when such an erasure is logged).
 *
 * Freshness and the race that remains: the selectors are read from `erasure_log` (only the
 * columns needed, the newest erasure per selector; after the first read only the log's last
 * minutes, so a long log is not read whole per batch) when the ingester starts, and then before each
 * batch's insert unless a read that started after the batch was read from its source has already
 * completed (one read serves every batch read before it started). So an erasure whose log row was
 * committed before the batch was read is always applied. Not covered: an erasure that deletes,
 * counts and commits its log row while a batch is between that read and its insert. If the
 * batch's rows land after the erasure's final count they stay stored (the erasure cannot see them
 * and reports none remaining); landing before it, the erasure reports them as remaining
 * (MLG_AUD_ERASURE_INCOMPLETE). `mlgate audit erasure check` after the ingester's lag has passed
 * finds any such row; erasing again removes it.
 */
import type { Logger } from '../core/log.ts';
import type { Hasher } from '../telemetry/hash.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import type { DecodedItem } from './decode.ts';

/** How far before the newest erasure already read a later read starts (late or clock-skewed log rows). */
const LOOK_BACK_MS = 10 * 60_000;

/** Selector hash → the newest erasure's time (ms). */
type Selectors = Map<string, number>;

/** What {@link ErasureFilter.filter} did to a batch. */
export interface ErasureFiltered {
  /** Rows to insert, in their original order. */
  keep: DecodedItem[];
  /** Rows dropped per selector kind. */
  erased: { consumer: number; input_hash: number };
}

/** Options of {@link ErasureFilter}. */
export interface ErasureFilterOptions {
  warehouse: Warehouse;
  /** The gateways' telemetry hasher; without it consumer erasures cannot be matched. */
  hasher?: Hasher | undefined;
  log: Logger;
  /** Monotonic clock (ms) ordering reads against batch read times. Default `performance.now`. */
  clock?: () => number;
}

interface LogRow {
  kind: string;
  hash: string;
  key_id: string;
  ms: string;
}

/** The erasure log kept in memory, and the filter applied to batches before they are inserted. */
export class ErasureFilter {
  private readonly o: ErasureFilterOptions;
  private readonly clock: () => number;
  private consumers: Selectors = new Map();
  private inputHashes: Selectors = new Map();
  /** Start time of the newest completed read. */
  private freshAt = -Infinity;
  /** The read in progress, with its start time. */
  private reading: { at: number; done: Promise<void> } | undefined;
  private readonly warned = new Set<string>();
  /** Time (ms) of the newest erasure read so far; -Infinity before the first read. */
  private newest = -Infinity;
  /** Set once `erasure_log` was found (a reduced schema may lack it: nothing to apply then). */
  private tableSeen = false;

  constructor(opts: ErasureFilterOptions) {
    this.o = opts;
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Current time on the filter's clock: stamp a batch with it when it is read. */
  now(): number {
    return this.clock();
  }

  /** Selectors held, per kind (for tests and logs). */
  get size(): { consumer: number; input_hash: number } {
    return { consumer: this.consumers.size, input_hash: this.inputHashes.size };
  }

  /**
   * Resolves once a read of the erasure log that started at or after `readAt` (a batch's read
   * time on {@link now}'s clock) has completed. Throws what the warehouse throws (the caller retries).
   */
  async ensureFresh(readAt: number): Promise<void> {
    while (this.freshAt < readAt) {
      if (this.reading && this.reading.at >= readAt) {
        await this.reading.done;
        return;
      }
      if (this.reading) {
        await this.reading.done.catch(() => {});
        continue;
      }
      const at = this.clock();
      const done = this.load().then(() => { this.freshAt = Math.max(this.freshAt, at); });
      this.reading = { at, done };
      try {
        await done;
      } finally {
        if (this.reading?.done === done) this.reading = undefined;
      }
    }
  }

  /** Drops the rows an earlier erasure covers. Cheap when nothing was ever erased. */
  filter(items: readonly DecodedItem[]): ErasureFiltered {
    const erased = { consumer: 0, input_hash: 0 };
    if (this.consumers.size === 0 && this.inputHashes.size === 0) return { keep: items.slice(), erased };
    const hasher = this.o.hasher;
    const hashes = new Map<string, string>();
    const keep: DecodedItem[] = [];
    for (const item of items) {
      const ts = item.ts ?? Infinity;
      if (item.inputHash && ts <= (this.inputHashes.get(item.inputHash) ?? -Infinity)) {
        erased.input_hash++;
        continue;
      }
      if (hasher && this.consumers.size && item.consumer !== undefined) {
        let h = hashes.get(item.consumer);
        if (h === undefined) hashes.set(item.consumer, (h = hasher.hashValue({ consumer_id: item.consumer })));
        if (ts <= (this.consumers.get(h) ?? -Infinity)) {
          erased.consumer++;
          continue;
        }
      }
      keep.push(item);
    }
    return { keep, erased };
  }

  private async load(): Promise<void> {
    const wh = this.o.warehouse;
    if (!this.tableSeen) {
      // No query parameters: an old server (a reduced schema, no erasure_log) has none. `{db}` is a validated identifier.
      const t = await wh.query<{ n: string }>("SELECT toString(count()) AS n FROM system.tables WHERE database = '{db}' AND name = 'erasure_log'");
      if (Number(t[0]?.n ?? 0) === 0) {
        this.warnOnce('no-table', {}, 'the warehouse has no erasure_log table: no erasure is applied at ingest');
        return;
      }
      this.tableSeen = true;
    }
    // After the first read only the log's recent end is read (the table is ordered by ts; it only
    // grows): rows from LOOK_BACK_MS before the newest erasure seen on, which also covers erasures
    // logged late or by an audit process whose clock is behind. Merged into the selectors held.
    const since = Number.isFinite(this.newest) ? `WHERE ts >= fromUnixTimestamp64Milli(${Math.floor(this.newest - LOOK_BACK_MS)}, 'UTC')` : '';
    const rows = await wh.query<LogRow>(
      `SELECT selector_kind AS kind, selector_hash AS hash, hash_key_id AS key_id, toString(max(toUnixTimestamp64Milli(ts))) AS ms
       FROM ${wh.table('erasure_log')} ${since} GROUP BY selector_kind, selector_hash, hash_key_id`,
    );
    const consumers = this.consumers;
    const inputHashes = this.inputHashes;
    const skipped = { noKey: 0, otherKey: 0, subject: 0 };
    const keyId = this.o.hasher?.keyId;
    for (const r of rows) {
      const ms = Number(r.ms);
      if (ms > this.newest) this.newest = ms;
      const put = (m: Selectors) => m.set(r.hash, Math.max(ms, m.get(r.hash) ?? -Infinity));
      if (r.kind === 'input_hash') put(inputHashes);
      else if (r.kind === 'consumer') {
        if (keyId === undefined) skipped.noKey++;
        else if (r.key_id !== keyId) skipped.otherKey++;
        else put(consumers);
      } else if (r.kind === 'subject') skipped.subject++;
    }
    if (skipped.noKey) {
      this.warnOnce('no-key', { erasures: skipped.noKey },
        'consumer erasures are logged but the ingester has no telemetry hash key (telemetry.hashing / MLGATE_HASH_KEY): events of erased consumers still in flight are stored');
    }
    if (skipped.otherKey) {
      this.warnOnce('other-key', { erasures: skipped.otherKey, keyId },
        'consumer erasures logged under another hash key id cannot be matched at ingest (the key rotated)');
    }
    if (skipped.subject) {
      this.warnOnce('subject', { erasures: skipped.subject },
        'subject erasures cannot be applied at ingest (the v1 event carries no subject): erase again once events in flight are stored');
    }
  }

  private warnOnce(what: string, fields: Record<string, unknown>, msg: string): void {
    if (this.warned.has(what)) return;
    this.warned.add(what);
    this.o.log.warn(fields, msg);
  }
}
