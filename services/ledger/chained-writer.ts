/**
 * The writer of a hash-chained table: one writer per chain (chain id = the writer's stable
 * name, e.g. `controller-1` or `gw-eu-2`). On its first append it resumes the chain from
 * ClickHouse (the row with the highest seq of its chain id); appends are serialised, so a chain
 * never forks inside one process. Before each append it re-reads the chain head: if another
 * process appended to the same chain id, the append fails with MLG_AUD_CHAIN_CONFLICT instead
 * of forking the chain. An append that failed is safe to retry with the same row: if the
 * failed insert did land, the retry returns the stored row instead of appending a copy.
 *
 * Usage (controller): `const w = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'controller-1' });
 * await w.append(decisionRow)`. Gateways use `admin_changes` with their gateway id as chain id.
 */
import { formatIssues } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { CHAIN_ID, GENESIS, rowHash } from './chain.ts';
import { CHAIN_SPECS, CHAINED_TABLES, type ChainedTable, type ChainRowInput } from './chained-tables.ts';
import { LedgerErrors } from './errors.ts';

/** The chain columns a written row gets. */
export interface ChainColumns {
  chain_id: string;
  /** 1, 2, 3, … within the chain (a decimal string when read back from ClickHouse). */
  seq: number;
  prev_hash: string;
  hash: string;
}

/** Options of {@link createChainedWriter}. */
export interface ChainedWriterOptions<T extends ChainedTable> {
  /** Which chained table. */
  table: T;
  /** This writer's chain; stable across restarts, unique among concurrent writers. */
  chainId: string;
  /** Re-read the head before each append to detect a second writer (default true). */
  checkHead?: boolean;
  logger?: Logger;
}

/** Appends rows to one chain of one table. */
export interface ChainedWriter<T extends ChainedTable> {
  readonly table: T;
  readonly chainId: string;
  /**
   * Validates `row`, links it to the chain head, inserts it and resolves with the row as stored
   * (content normalised, plus chain columns). Rejects with MLG_AUD_BAD_ROW for an invalid row,
   * MLG_AUD_CHAIN_CONFLICT when another writer moved the head, MLG_WH_* from ClickHouse.
   */
  append(row: ChainRowInput[T]): Promise<Record<string, unknown> & ChainColumns>;
  /** The chain head as this writer knows it (reads ClickHouse on first use); null for an empty chain. */
  head(): Promise<{ seq: number; hash: string; id: string } | null>;
}

interface Head {
  seq: number;
  hash: string;
  id: string;
}

class Writer<T extends ChainedTable> implements ChainedWriter<T> {
  readonly table: T;
  readonly chainId: string;
  private readonly spec;
  private readonly checkHead: boolean;
  private readonly log: Logger;
  private known: Head | null | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly wh: Warehouse, opts: ChainedWriterOptions<T>) {
    if (!(CHAINED_TABLES as readonly string[]).includes(opts?.table)) {
      throw LedgerErrors.badOptions(`chained writer: table must be one of ${CHAINED_TABLES.join(', ')}, got ${JSON.stringify(opts?.table)}`);
    }
    if (typeof opts.chainId !== 'string' || !CHAIN_ID.test(opts.chainId)) {
      throw LedgerErrors.badOptions(`chained writer: chainId ${JSON.stringify(opts.chainId)} must match ${CHAIN_ID.source}`);
    }
    this.table = opts.table;
    this.chainId = opts.chainId;
    this.spec = CHAIN_SPECS[opts.table];
    this.checkHead = opts.checkHead ?? true;
    this.log = opts.logger ?? silentLogger();
  }

  private async readHead(): Promise<Head | null> {
    const rows = await this.wh.query<{ seq: string; hash: string; id: string }>(
      `SELECT toString(seq) AS seq, hash, ${this.spec.idColumn} AS id FROM ${this.wh.table(this.table)}
       WHERE chain_id = {chain:String} ORDER BY seq DESC LIMIT 1 SETTINGS prefer_column_name_to_alias = 1`,
      { chain: this.chainId },
    );
    const r = rows[0];
    return r ? { seq: Number(r.seq), hash: r.hash, id: r.id } : null;
  }

  head(): Promise<Head | null> {
    return this.serialised(async () => {
      if (this.known === undefined) this.known = await this.readHead();
      return this.known;
    });
  }

  append(row: ChainRowInput[T]): Promise<Record<string, unknown> & ChainColumns> {
    return this.serialised(() => this.appendNow(row));
  }

  private serialised<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(input: ChainRowInput[T]): Promise<Record<string, unknown> & ChainColumns> {
    const parsed = this.spec.schema.safeParse(input);
    if (!parsed.success) throw LedgerErrors.badRow(`invalid ${this.table} row: ${formatIssues(parsed.error.issues)}`);
    const row = parsed.data;
    const id = String(row[this.spec.idColumn]);
    const resumed = this.known === undefined;
    const head = resumed || this.checkHead ? await this.readHead() : this.known!;
    if (!resumed && this.checkHead && !sameHead(head, this.known!)) {
      const mine = this.known!;
      this.known = undefined;
      throw LedgerErrors.chainConflict(
        `${this.table} chain ${JSON.stringify(this.chainId)} moved from seq ${mine?.seq ?? 0} to seq ${head?.seq ?? 0} behind this writer; ` +
          'another process writes with the same chain id',
        { details: { table: this.table, chainId: this.chainId, expectedSeq: mine?.seq ?? 0, foundSeq: head?.seq ?? 0 } },
      );
    }
    // A retry of the row at the head (its first insert landed although the call failed) returns that row.
    if (head && head.id === id) return this.stored(head);
    const seq = (head?.seq ?? 0) + 1;
    const prev = head?.hash ?? GENESIS;
    const hash = rowHash(this.spec, row, { chain_id: this.chainId, seq, prev_hash: prev });
    const stored = { ...row, chain_id: this.chainId, seq, prev_hash: prev, hash };
    try {
      await this.wh.insert(this.table, [stored], { dedupToken: `chain:${this.table}:${this.chainId}:${seq}:${hash.slice(0, 16)}` });
    } catch (err) {
      this.known = undefined; // re-read the head next time: the insert may have landed
      throw err;
    }
    this.known = { seq, hash, id };
    this.log.debug({ table: this.table, chain: this.chainId, seq }, 'chained row appended');
    return stored;
  }

  private async stored(head: Head): Promise<Record<string, unknown> & ChainColumns> {
    this.known = head;
    const rows = await this.wh.query<Record<string, unknown>>(
      `SELECT * FROM ${this.wh.table(this.table)} WHERE chain_id = {chain:String} AND seq = {seq:UInt64} LIMIT 1`,
      { chain: this.chainId, seq: head.seq },
    );
    const r = rows[0] ?? {};
    return { ...r, chain_id: this.chainId, seq: head.seq, prev_hash: String(r.prev_hash ?? ''), hash: head.hash };
  }
}

function sameHead(a: Head | null, b: Head | null): boolean {
  return a === null || b === null ? a === b : a.seq === b.seq && a.hash === b.hash;
}

/**
 * A writer for one chain of `opts.table`. Construction does no I/O; the first append resumes
 * the chain from ClickHouse. @throws MLG_AUD_BAD_OPTIONS for an unknown table or a bad chain id.
 */
export function createChainedWriter<T extends ChainedTable>(wh: Warehouse, opts: ChainedWriterOptions<T>): ChainedWriter<T> {
  return new Writer(wh, opts);
}
