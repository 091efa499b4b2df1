/**
 * Cuts a partition's messages into insert batches. Pure: no I/O, so the exactly-once rules are
 * tested on their own.
 *
 * Normal batches are consecutive messages, at most `maxRows` of them, and their offset range
 * names their deduplication token. After a crash or a rebalance the ledger lists the ranges a
 * previous ingester was inserting when it stopped ("forced" ranges); those must be rebuilt with
 * exactly the same boundaries so their tokens match and ClickHouse drops the rows that already
 * landed. A forced range that is not complete yet (the fetch stopped inside it) is carried over
 * to the next delivery instead of being cut short.
 */

/** An inclusive offset range. */
export interface OffsetRange {
  first: number;
  last: number;
}

/** One planned insert: items `[from, to]` (indexes), named by `range`. */
export interface PlannedChunk {
  from: number;
  to: number;
  range: OffsetRange;
  /** True when the range came from the ledger (a replay of a batch begun before). */
  replay: boolean;
}

/** The plan for one delivery. */
export interface Plan {
  chunks: PlannedChunk[];
  /** Index of the first item that must wait for more messages (items.length when none). */
  carryFrom: number;
  /** Forced ranges still ahead (neither done nor skipped). */
  forced: OffsetRange[];
  /** Forced ranges dropped because no delivered message fell inside them. */
  skipped: OffsetRange[];
}

/**
 * Orders ledger ranges and drops the ones that cannot be honoured: ranges starting before
 * `from` (already committed) and ranges overlapping an earlier one.
 */
export function normalizeForced(ranges: readonly OffsetRange[], from: number): OffsetRange[] {
  const sorted = [...ranges].filter((r) => r.first >= from && r.last >= r.first).sort((a, b) => a.first - b.first || a.last - b.last);
  const out: OffsetRange[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && r.first <= prev.last) continue;
    out.push(r);
  }
  return out;
}

/**
 * Plans inserts for `offsets` (ascending offsets of the items in hand).
 * @param forced ranges from the ledger, normalized, ascending; not mutated.
 */
export function planChunks(offsets: readonly number[], forced: readonly OffsetRange[], maxRows: number): Plan {
  const chunks: PlannedChunk[] = [];
  const pending = [...forced];
  const skipped: OffsetRange[] = [];
  const n = offsets.length;
  let i = 0;
  while (i < n) {
    const at = offsets[i]!;
    let f = pending[0];
    while (f && at > f.last) {
      skipped.push(pending.shift()!);
      f = pending[0];
    }
    if (f && at >= f.first) {
      let j = i;
      while (j + 1 < n && offsets[j + 1]! <= f.last) j++;
      if (offsets[j]! < f.last && j === n - 1) return { chunks, carryFrom: i, forced: pending, skipped };
      chunks.push({ from: i, to: j, range: { first: f.first, last: f.last }, replay: true });
      pending.shift();
      i = j + 1;
      continue;
    }
    let j = Math.min(i + maxRows - 1, n - 1);
    if (f) while (j > i && offsets[j]! >= f.first) j--;
    chunks.push({ from: i, to: j, range: { first: at, last: offsets[j]! }, replay: false });
    i = j + 1;
  }
  return { chunks, carryFrom: n, forced: pending, skipped };
}
