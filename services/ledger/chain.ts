/**
 * The audit hash chain, pure: how a row of a chained table is serialised and hashed, and how a
 * sequence of rows is checked. No I/O; the writer (chained-writer.ts) and the verifier
 * (verify.ts) bring the rows.
 *
 * A chain is one writer's rows of one table, numbered `seq` = 1, 2, 3, … Each row carries
 * `prev_hash` (the previous row's hash; {@link GENESIS} for seq 1) and `hash` = SHA-256 of the
 * row's canonical form: a JSON array of a version tag, the table, the chain id, the seq, the
 * prev_hash and every content field in the layout's fixed order, each normalised by its kind so
 * that the value written and the value read back from ClickHouse serialise alike (times as
 * integer ms, 64-bit integers as decimal strings, floats as JS numbers, strings as they are).
 */
import { createHash } from 'node:crypto';

/** How a content field is normalised before hashing. */
export type FieldKind = 'string' | 'ms' | 'int' | 'uint64' | 'float';

/** The chained columns of one table, in hashing order. */
export interface ChainLayout {
  /** Table name (part of every hash, so a row cannot be moved to another table). */
  readonly table: string;
  /** Column that identifies a row to a human (e.g. `decision_id`). */
  readonly idColumn: string;
  /** Content fields in hashing order with their kinds. */
  readonly fields: ReadonlyArray<readonly [name: string, kind: FieldKind]>;
}

/** Chain ids: short, and safe inside an insert deduplication token. */
export const CHAIN_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** `prev_hash` of the first row of every chain. */
export const GENESIS = '0'.repeat(64);

/** Version tag at the head of the canonical form; a new form would get a new tag. */
export const CHAIN_FORMAT = 'mlgate-chain-v1';

/** The chain position of a row. */
export interface ChainPosition {
  readonly chain_id: string;
  readonly seq: number | string | bigint;
  readonly prev_hash: string;
}

/** What can be wrong with a row of a chain (`unchained`: a row written outside any chain). */
export type BreakKind = 'seq_start' | 'seq_gap' | 'fork' | 'hash' | 'prev_hash' | 'unchained' | 'truncated' | 'rewritten';

/** The first broken link of a chain. */
export interface ChainBreak {
  readonly table: string;
  readonly chain_id: string;
  /** Seq of the offending row (decimal string). */
  readonly seq: string;
  /** Its id column's value. */
  readonly id: string;
  readonly kind: BreakKind;
  readonly expected: string;
  readonly found: string;
  /** One line naming all of the above. */
  readonly message: string;
}

function normalise(kind: FieldKind, value: unknown, name: string): string | number {
  switch (kind) {
    case 'string':
      return value === null || value === undefined ? '' : String(value);
    case 'ms':
    case 'int': {
      const n = typeof value === 'string' ? Number(value) : (value as number);
      if (!Number.isSafeInteger(n)) throw new TypeError(`chain field ${name}: expected an integer, got ${JSON.stringify(value)}`);
      return n;
    }
    case 'uint64':
      try {
        return BigInt(value as string | number | bigint).toString();
      } catch {
        throw new TypeError(`chain field ${name}: expected an unsigned integer, got ${JSON.stringify(value)}`);
      }
    case 'float': {
      const n = typeof value === 'string' ? Number(value) : (value as number);
      if (typeof n !== 'number' || !Number.isFinite(n)) throw new TypeError(`chain field ${name}: expected a finite number, got ${JSON.stringify(value)}`);
      return n === 0 ? 0 : n;
    }
  }
}

/** The canonical serialisation of `row` at position `pos` (the exact bytes that are hashed). */
export function canonicalRow(layout: ChainLayout, row: Readonly<Record<string, unknown>>, pos: ChainPosition): string {
  const parts: Array<string | number> = [CHAIN_FORMAT, layout.table, pos.chain_id, BigInt(pos.seq).toString(), pos.prev_hash];
  for (const [name, kind] of layout.fields) parts.push(normalise(kind, row[name], name));
  return JSON.stringify(parts);
}

/** SHA-256 (hex) of the canonical form. */
export function rowHash(layout: ChainLayout, row: Readonly<Record<string, unknown>>, pos: ChainPosition): string {
  return createHash('sha256').update(canonicalRow(layout, row, pos), 'utf8').digest('hex');
}

/** A stored row as the verifier reads it: content fields plus the chain columns. */
export type StoredRow = Readonly<Record<string, unknown>> & { readonly chain_id: string; readonly seq: string | number; readonly prev_hash: string; readonly hash: string };

/**
 * Checks the rows of one chain, fed in ascending seq order (several calls may feed it page by
 * page). Stops at the first broken link: later rows cannot be trusted past it.
 */
export class ChainVerifier {
  /** Rows checked so far. */
  rows = 0;
  /** The first broken link, once found. */
  broken: ChainBreak | undefined;
  private lastSeq = 0n;
  private lastHash = GENESIS;
  private lastId = '';

  constructor(private readonly layout: ChainLayout, readonly chainId: string) {}

  /** Last good row: its seq and hash (what a writer resumes from); undefined before the first. */
  get head(): { seq: string; hash: string; id: string } | undefined {
    return this.lastSeq === 0n ? undefined : { seq: this.lastSeq.toString(), hash: this.lastHash, id: this.lastId };
  }

  /** Checks the next row; returns the break if this row is (or reveals) one. */
  push(row: StoredRow): ChainBreak | undefined {
    if (this.broken) return this.broken;
    this.rows++;
    const seq = BigInt(row.seq);
    const id = String(row[this.layout.idColumn] ?? '');
    const fail = (kind: BreakKind, expected: string, found: string, what: string): ChainBreak => {
      this.broken = Object.freeze({
        table: this.layout.table, chain_id: this.chainId, seq: seq.toString(), id, kind, expected, found,
        message: `${this.layout.table} chain ${JSON.stringify(this.chainId)} seq ${seq} (${this.layout.idColumn} ${id}): ${what}: expected ${expected}, found ${found}`,
      });
      return this.broken;
    };
    if (seq === this.lastSeq && seq !== 0n) return fail('fork', `one row at seq ${seq} (${this.lastId})`, `a second row (${id})`, 'two rows share one seq');
    if (seq !== this.lastSeq + 1n) {
      return this.lastSeq === 0n
        ? fail('seq_start', 'seq 1', `seq ${seq}`, 'the chain does not start at seq 1 (rows before it are missing)')
        : fail('seq_gap', `seq ${this.lastSeq + 1n}`, `seq ${seq}`, `rows are missing after seq ${this.lastSeq}`);
    }
    let computed: string;
    try {
      computed = rowHash(this.layout, row, { chain_id: this.chainId, seq, prev_hash: row.prev_hash });
    } catch (err) {
      return fail('hash', 'a row of the expected shape', (err as Error).message, 'the row cannot be serialised');
    }
    if (computed !== row.hash) return fail('hash', computed, String(row.hash), 'the row was changed after it was written (its hash does not match its content)');
    if (row.prev_hash !== this.lastHash) return fail('prev_hash', this.lastHash, String(row.prev_hash), 'the link to the previous row is broken');
    this.lastSeq = seq;
    this.lastHash = row.hash;
    this.lastId = id;
    return undefined;
  }
}

/** Checks a whole chain held in memory (rows in any order); returns the first break or undefined. */
export function verifyChain(layout: ChainLayout, chainId: string, rows: readonly StoredRow[]): ChainBreak | undefined {
  const v = new ChainVerifier(layout, chainId);
  const sorted = [...rows].sort((a, b) => {
    const d = BigInt(a.seq) - BigInt(b.seq);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
  for (const r of sorted) if (v.push(r)) break;
  return v.broken;
}
