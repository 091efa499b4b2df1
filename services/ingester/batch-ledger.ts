/**
 * The batch ledger (`<db>.ingest_ledger`): before inserting a batch the ingester records its
 * source, partition and offset range; after a crash or a rebalance, the next owner of the
 * partition reads the ranges at or past its starting offset and rebuilds exactly those batches
 * (planner.ts), so their deduplication tokens match what may already be stored.
 */
import { createHash } from 'node:crypto';
import type { Warehouse } from '../warehouse/warehouse.ts';
import type { OffsetRange } from './planner.ts';

/**
 * The deduplication token of a batch: `p<partition>:<first>-<last>:<fingerprint>`, where the
 * fingerprint hashes the source name and the first and last event_id of the batch. The offsets
 * make a rebuilt batch match; the event ids make a batch of a *new* offset space (a topic
 * recreated, a local log deleted) differ from an old one with the same offsets, which ClickHouse
 * would otherwise drop as a repeat while the old token is in its deduplication window.
 */
export function batchToken(source: string, partition: number, range: OffsetRange, firstEventId: string, lastEventId: string): string {
  const fingerprint = createHash('sha256').update(`${source}\n${firstEventId}\n${lastEventId}`).digest('hex').slice(0, 16);
  return `p${partition}:${range.first}-${range.last}:${fingerprint}`;
}

/** Reads and writes the ledger; a disabled ledger reads nothing and writes nothing. */
export class BatchLedger {
  private readonly wh: Warehouse;
  /** False on servers without query parameters or deduplication tokens (at-least-once there). */
  readonly enabled: boolean;

  constructor(wh: Warehouse, enabled: boolean) {
    this.wh = wh;
    this.enabled = enabled;
  }

  /** Ranges recorded for `partition` that end at or after `from`, ascending. */
  async pending(source: string, partition: number, from: number): Promise<OffsetRange[]> {
    if (!this.enabled) return [];
    const rows = await this.wh.query<{ first: string | number; last: string | number }>(
      `SELECT DISTINCT first_offset AS first, last_offset AS last FROM {db}.ingest_ledger
       WHERE source = {source:String} AND partition = {partition:UInt32} AND last_offset >= {from:UInt64}
       ORDER BY first, last`,
      { source, partition, from },
    );
    return rows.map((r) => ({ first: Number(r.first), last: Number(r.last) }));
  }

  /** Records a batch about to be inserted. */
  async record(source: string, partition: number, range: OffsetRange, rows: number): Promise<void> {
    if (!this.enabled) return;
    await this.wh.insert('ingest_ledger', [{ source, partition, first_offset: range.first, last_offset: range.last, rows }]);
  }
}

/**
 * Partition claims (`<db>.ingest_claims`): an ingester claims a partition when it is assigned it
 * (stamped by the server's clock, so every ingester orders claims the same way) and, just before
 * each insert, checks that the partition's newest claim is still its own. A deposed owner that has
 * not heard of the rebalance yet (a broker restart: it learns only when its commit is refused) then
 * drops its batch instead of inserting it beside the new owner's, whose ledger read and event-id
 * lookup came after its claim. What is left is the moment between a check and its insert landing.
 * A disabled fence claims nothing and never refuses.
 */
export class PartitionClaims {
  private readonly wh: Warehouse;
  readonly enabled: boolean;
  /** This ingester's id in its claims (random per process). */
  readonly owner: string;

  constructor(wh: Warehouse, enabled: boolean, owner: string) {
    this.wh = wh;
    this.enabled = enabled;
    this.owner = owner;
  }

  /** Claims `partition` of `source` for this ingester, now. */
  async claim(source: string, partition: number): Promise<void> {
    if (!this.enabled) return;
    await this.wh.command(
      'INSERT INTO {db}.ingest_claims (source, partition, owner, claimed_at) SELECT {source:String}, {partition:UInt32}, {owner:String}, now64(6)',
      { source, partition, owner: this.owner },
    );
  }

  /** The owner of the partition's newest claim, or null when it has none. */
  async holder(source: string, partition: number): Promise<string | null> {
    if (!this.enabled) return null;
    const rows = await this.wh.query<{ owner: string }>(
      `SELECT owner FROM {db}.ingest_claims WHERE source = {source:String} AND partition = {partition:UInt32}
       ORDER BY claimed_at DESC, owner DESC LIMIT 1`,
      { source, partition },
    );
    return rows[0]?.owner ?? null;
  }

  /** True unless another ingester claimed the partition after this one did. */
  async stillOwner(source: string, partition: number): Promise<boolean> {
    if (!this.enabled) return true;
    const holder = await this.holder(source, partition);
    return holder === null || holder === this.owner;
  }
}
