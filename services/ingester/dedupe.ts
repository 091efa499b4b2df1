/**
 * Event-id deduplication: an event can reach the topic twice, at two offsets (a producer reset
 * resends what it could not confirm, a gateway crash window, a spill replayed after its events
 * had in fact landed). The batch tokens cannot catch that (they name offsets), so before a batch
 * is inserted its event ids are looked up in the target table within the batch's time window,
 * and a row is dropped when a copy of its event is stored at another position (topic, partition,
 * offset) or appears earlier in the same batch.
 *
 * Why it is exact: the gateway keys each message by its event id, so every copy of one event
 * lands in the same partition (while the partition count stays the same), and one ingester owns
 * a partition at a time and writes its batches in order. So when a batch is looked up, every
 * earlier copy of its events is already stored or in this batch. Both tables stay exact at insert
 * time, the `requests_1m` aggregates included, and no query needs FINAL or argMax. A row stored at
 * the same position is this batch's own earlier attempt (a replay after a crash): it is kept, so
 * the replay is the same batch under the same token and ClickHouse drops it as a repeat.
 *
 * Not covered: copies in two partitions (the topic's partition count changed between them) that
 * two ingesters write at the same moment; copies further apart in event time than the window
 * cannot exist (both carry the event's own `ts`).
 */
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
  /** Rows dropped because a copy of their event is stored or earlier in the batch. */
  dropped: number;
}

/**
 * Looks up the batch's event ids in `table` and returns the rows whose event is not stored yet
 * (the first copy of an event repeated within the batch). Throws what the warehouse throws (the
 * caller retries).
 */
export async function dropDuplicates(wh: Warehouse, table: string, source: string, partition: number, items: readonly DecodedItem[]): Promise<Deduped> {
  if (items.length === 0) return { keep: [], dropped: 0 };
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
  for (const i of items) {
    const id = i.id!.toLowerCase();
    const elsewhere = (stored.get(id) ?? []).some((p) => p.topic !== source || p.partition !== partition || p.offset !== i.offset);
    if (elsewhere || seen.has(id)) continue;
    seen.add(id);
    keep.push(i);
  }
  return { keep, dropped: items.length - keep.length };
}
