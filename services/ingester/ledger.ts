/**
 * The batch ledger (`<db>.ingest_ledger`): before inserting a batch the ingester records its
 * source, partition and offset range; after a crash or a rebalance, the next owner of the
 * partition reads the ranges at or past its starting offset and rebuilds exactly those batches
 * (planner.ts), so their deduplication tokens match what may already be stored.
 */
import type { Warehouse } from '../warehouse/warehouse.ts';
import type { OffsetRange } from './planner.ts';

/** The deduplication token of a batch: `source:partition:first-last`. */
export function batchToken(source: string, partition: number, range: OffsetRange): string {
  return `${source}:${partition}:${range.first}-${range.last}`;
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
