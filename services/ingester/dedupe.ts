/**
 * Event-id deduplication: an event can reach the topic twice, at two offsets (a producer reset
 * resends what it could not confirm, a gateway crash window, a spill replayed after its events
 * had in fact landed), and one offset range can be inserted by two ingesters cut into different
 * batches (a deposed owner of the partition that does not know it yet, whose ledger record the
 * new owner did not see: after a broker restart, its offset commit is refused only after its
 * insert landed). Batch tokens catch neither (they name offset ranges). So before a batch is
 * inserted its event ids are looked up in the target table within the batch's time window, and
 * every row whose event is already stored, at any position, or earlier in the same batch is
 * dropped.
 *
 * A row stored at the row's own position is either this batch's earlier attempt (a replay after a
 * crash) or another ingester's differently cut batch; dropping it is right in both cases. The
 * caller then inserts the rest under a token that names exactly which rows remain
 * ({@link keptToken}): a replay whose first attempt landed in part (several blocks, some stored)
 * inserts the rest instead of being dropped whole as a repeat of the original token, and a replay
 * whose first attempt landed whole inserts nothing.
 *
 * Why it is exact: the gateway keys each message by its event id, so every copy of one event
 * lands in the same partition (while the partition count stays the same), and the owner of a
 * partition writes its batches in order. So when a batch is looked up, every earlier copy of its
 * events is already stored or in this batch. Both tables stay exact at insert time, the
 * `requests_1m` aggregates included, and no query needs FINAL or argMax.
 *
 * Not covered: two ingesters that look up the same events and both insert them within the same
 * moment (between one's lookup and its insert), in differently cut batches, or copies in two
 * partitions (the topic's partition count changed between them) written at the same moment;
 * copies further apart in event time than the window cannot exist (both carry the event's own
 * `ts`).
 */
import { createHash } from 'node:crypto';
import type { Warehouse } from '../warehouse/warehouse.ts';
import type { DecodedItem } from './decode.ts';

/** Ids per lookup query (the ids travel as one query parameter). */
const LOOKUP_CHUNK = 2000;

/** Where a row was read from. */
interface Position { topic: string; partition: number; offset: number }

/** The result of {@link dropDuplicates}. */
export interface Deduped {
  /** Rows to insert, in their original order. */
  keep: DecodedItem[];
  /** Rows dropped because a copy of their event is stored at another position or is earlier in the batch. */
  dropped: number;
  /** Rows dropped because they are stored at their own position (a replay, or another ingester's cut of this range). */
  stored: number;
}

/**
 * Looks up the batch's event ids in `table` and returns the rows whose event is not stored yet
 * (the first copy of an event repeated within the batch). Throws what the warehouse throws (the
 * caller retries).
 */
export async function dropDuplicates(wh: Warehouse, table: string, source: string, partition: number, items: readonly DecodedItem[]): Promise<Deduped> {
  if (items.length === 0) return { keep: [], dropped: 0, stored: 0 };
  let from = Infinity;
  let to = -Infinity;
  for (const i of items) {
    if (i.ts! < from) from = i.ts!;
    if (i.ts! > to) to = i.ts!;
  }
  const ids = [...new Set(items.map((i) => i.id!.toLowerCase()))];
  const stored = new Map<string, Position[]>();
  for (let k = 0; k < ids.length; k += LOOKUP_CHUNK) {
    const rows = await wh.query<{ id: string; topic: string; partition: number; offset: number | string }>(
      `SELECT toString(event_id) AS id, src_topic AS topic, src_partition AS partition, src_offset AS offset
       FROM ${wh.table(table)}
       WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')
         AND event_id IN {ids:Array(UUID)}`,
      { from, to, ids: ids.slice(k, k + LOOKUP_CHUNK) },
    );
    for (const r of rows) {
      const list = stored.get(r.id) ?? [];
      list.push({ topic: r.topic, partition: Number(r.partition), offset: Number(r.offset) });
      stored.set(r.id, list);
    }
  }
  const seen = new Set<string>();
  const keep: DecodedItem[] = [];
  let here = 0;
  for (const i of items) {
    const id = i.id!.toLowerCase();
    const copies = stored.get(id) ?? [];
    if (copies.length && copies.every((p) => p.topic === source && p.partition === partition && p.offset === i.offset)) {
      here++;
      continue;
    }
    if (copies.length || seen.has(id)) continue;
    seen.add(id);
    keep.push(i);
  }
  return { keep, dropped: items.length - keep.length - here, stored: here };
}

/**
 * The insert token of what is left of a batch after {@link dropDuplicates} dropped rows from it:
 * the batch token and a fingerprint of the offsets kept. A rerun that keeps the same rows gets the
 * same token (and ClickHouse drops it if it landed); one that keeps fewer gets another.
 */
export function keptToken(token: string, kept: readonly DecodedItem[]): string {
  const h = createHash('sha256');
  for (const i of kept) h.update(`${i.offset},`);
  return `${token}/k${h.digest('hex').slice(0, 16)}`;
}
