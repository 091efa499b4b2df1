/**
 * `mlgate audit verify`: recomputes every hash chain of the chained tables from ClickHouse and
 * names the first broken link of each (table, chain, seq and id, expected vs found). Rows are
 * read one seq window at a time, so memory stays bounded however long a chain is; a window
 * holds every row of its seqs, so a fork (two rows at one seq) is never split across pages.
 *
 * Rows with an empty chain id were written outside any chain (before migration 0100, through
 * the plain recorders, or by hand): each table's count of them is reported and, unless
 * `allowUnchained`, fails the verification, since anyone with write access could have added them.
 *
 * A chain alone cannot show that rows were cut from its end, or that it was rewritten whole from
 * some seq on with fresh hashes. Anchors close that: heads recorded by an earlier verification and
 * kept outside ClickHouse (the `head` of each chain in a saved report). Each anchor's seq must still
 * be in its chain with the same hash, else the verification fails (`truncated` / `rewritten`).
 */
import type { Warehouse } from '../warehouse/warehouse.ts';
import { ChainVerifier, type ChainBreak, type StoredRow } from '../ledger/chain.ts';
import { CHAIN_SPECS, CHAINED_TABLES, chainSelectList, type ChainedTable } from '../ledger/chained-tables.ts';
import { CHAIN_ID } from '../ledger/chain.ts';
import { AuditErrors } from './errors.ts';

/** One chain's result. */
export interface ChainResult {
  readonly chain_id: string;
  /** Rows checked (up to and including the broken one). */
  readonly rows: number;
  /** Last good row (seq, hash, id): record it elsewhere to detect a later rewrite of history. */
  readonly head: { seq: string; hash: string; id: string } | undefined;
  readonly broken: ChainBreak | undefined;
}

/** One table's result. */
export interface TableResult {
  readonly table: ChainedTable;
  readonly rows: number;
  readonly chains: readonly ChainResult[];
  /** Rows with no chain id, and up to five of their ids. */
  readonly unchained: number;
  readonly unchainedIds: readonly string[];
  readonly ok: boolean;
}

/** The whole verification. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly tables: readonly TableResult[];
  /** The first problem found (tables in the order asked, chains by id), if any. */
  readonly firstBreak: ChainBreak | undefined;
}

/** A chain head recorded by an earlier verification (kept outside ClickHouse). */
export interface Anchor {
  readonly table: ChainedTable;
  readonly chain_id: string;
  /** Decimal string. */
  readonly seq: string;
  readonly hash: string;
}

/** Options of {@link verifyChains}. */
export interface VerifyOptions {
  /** Heads recorded earlier: each must still be in its chain, unchanged. */
  anchors?: readonly Anchor[];
  /** Tables to check; default all three. */
  tables?: readonly ChainedTable[];
  /** Seqs per read; default 5000. */
  window?: number;
  /** Report rows without a chain but do not fail on them. */
  allowUnchained?: boolean;
}

async function verifyOneChain(wh: Warehouse, table: ChainedTable, chainId: string, window: bigint): Promise<ChainResult> {
  const spec = CHAIN_SPECS[table];
  const v = new ChainVerifier(spec, chainId);
  const select = chainSelectList(spec);
  let lo = 0n;
  for (;;) {
    const rows = await wh.query<StoredRow>(
      `SELECT ${select} FROM ${wh.table(table)} WHERE chain_id = {chain:String} AND seq >= {lo:UInt64} AND seq < {hi:UInt64} ORDER BY seq, hash
       SETTINGS prefer_column_name_to_alias = 1`,
      { chain: chainId, lo: lo.toString(), hi: (lo + window).toString() },
    );
    for (const r of rows) if (v.push(r)) break;
    if (v.broken) break;
    const next = await wh.query<{ s: string | null }>(
      `SELECT toString(min(seq)) AS s, count() AS n FROM ${wh.table(table)} WHERE chain_id = {chain:String} AND seq >= {hi:UInt64} HAVING n > 0
       SETTINGS prefer_column_name_to_alias = 1`,
      { chain: chainId, hi: (lo + window).toString() },
    );
    if (!next[0]?.s) break;
    lo = BigInt(next[0].s);
  }
  return { chain_id: chainId, rows: v.rows, head: v.head, broken: v.broken };
}

async function verifyTable(wh: Warehouse, table: ChainedTable, window: bigint, allowUnchained: boolean): Promise<TableResult> {
  const spec = CHAIN_SPECS[table];
  const chains = await wh.query<{ chain_id: string; n: string }>(
    `SELECT chain_id, toString(count()) AS n FROM ${wh.table(table)} GROUP BY chain_id ORDER BY chain_id`,
  );
  const results: ChainResult[] = [];
  let unchained = 0;
  let unchainedIds: string[] = [];
  for (const c of chains) {
    if (c.chain_id === '') {
      unchained = Number(c.n);
      unchainedIds = (await wh.query<{ id: string }>(
        `SELECT ${spec.idColumn} AS id FROM ${wh.table(table)} WHERE chain_id = '' ORDER BY ts LIMIT 5`,
      )).map((r) => r.id);
      continue;
    }
    results.push(await verifyOneChain(wh, table, c.chain_id, window));
  }
  const ok = results.every((r) => !r.broken) && (allowUnchained || unchained === 0);
  return { table, rows: chains.reduce((s, c) => s + Number(c.n), 0), chains: results, unchained, unchainedIds, ok };
}

function unchainedBreak(t: TableResult): ChainBreak {
  const id = t.unchainedIds[0] ?? '';
  return {
    table: t.table, chain_id: '', seq: '0', id, kind: 'unchained', expected: 'every row in a chain', found: `${t.unchained} row(s) without a chain id`,
    message: `${t.table}: ${t.unchained} row(s) have no chain id (first: ${CHAIN_SPECS[t.table].idColumn} ${id}); they were not written by a chained writer`,
  };
}

/** Verifies the chains of `opts.tables`. @throws MLG_AUD_SCHEMA_MISSING when a table or its chain columns are missing. */
export async function verifyChains(wh: Warehouse, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const tables = opts.tables ?? CHAINED_TABLES;
  for (const t of tables) {
    if (!(CHAINED_TABLES as readonly string[]).includes(t)) throw AuditErrors.badFilter(`table ${JSON.stringify(t)} is not one of ${CHAINED_TABLES.join(', ')}`);
  }
  await requireChainColumns(wh, tables);
  const window = BigInt(opts.window ?? 5000);
  const results: TableResult[] = [];
  let firstBreak: ChainBreak | undefined;
  for (const t of tables) {
    let r = await verifyTable(wh, t, window, opts.allowUnchained ?? false);
    const anchors = (opts.anchors ?? []).filter((a) => a.table === t);
    if (anchors.length) r = await checkAnchors(wh, r, anchors);
    results.push(r);
    firstBreak ??= r.chains.find((c) => c.broken)?.broken ?? (r.unchained > 0 && !opts.allowUnchained ? unchainedBreak(r) : undefined);
  }
  return { ok: results.every((r) => r.ok), tables: results, firstBreak };
}

const short = (h: string): string => `${h.slice(0, 12)}…`;

/** Marks each chain of `r` whose anchor is gone or changed as broken (first problem per chain). */
async function checkAnchors(wh: Warehouse, r: TableResult, anchors: readonly Anchor[]): Promise<TableResult> {
  const chains = [...r.chains];
  const spec = CHAIN_SPECS[r.table];
  for (const a of anchors) {
    const i = chains.findIndex((c) => c.chain_id === a.chain_id);
    const c = chains[i];
    if (c?.broken) continue; // already failing; its first break is the news
    const fail = (kind: 'truncated' | 'rewritten', id: string, expected: string, found: string, what: string): ChainBreak =>
      ({ table: r.table, chain_id: a.chain_id, seq: a.seq, id, kind, expected, found, message: `${r.table} chain ${a.chain_id}: ${what}` });
    let broken: ChainBreak | undefined;
    if (!c) {
      broken = fail('truncated', '', `seq ${a.seq} with hash ${short(a.hash)}`, 'no rows',
        `the anchor at seq ${a.seq} (hash ${short(a.hash)}) was recorded, but the chain has no rows now: it was deleted`);
    } else if (!c.head || BigInt(c.head.seq) < BigInt(a.seq)) {
      broken = fail('truncated', '', `seq ${a.seq} with hash ${short(a.hash)}`, `chain ends at seq ${c.head?.seq ?? 0}`,
        `the chain ends at seq ${c.head?.seq ?? 0}, but seq ${a.seq} (hash ${short(a.hash)}) was recorded: rows were removed from its end`);
    } else {
      const [row] = await wh.query<{ hash: string; id: string }>(
        `SELECT hash, toString(${spec.idColumn}) AS id FROM ${wh.table(r.table)} WHERE chain_id = {chain:String} AND seq = {seq:UInt64} LIMIT 1`,
        { chain: a.chain_id, seq: a.seq },
      );
      if (!row || row.hash !== a.hash) {
        broken = fail('rewritten', row?.id ?? '', `hash ${short(a.hash)}`, `hash ${short(row?.hash ?? '')}`,
          `seq ${a.seq} has hash ${short(row?.hash ?? '')}, not the recorded ${short(a.hash)}: the chain was rewritten from there or before`);
      }
    }
    if (!broken) continue;
    if (c) chains[i] = { ...c, broken };
    else chains.push({ chain_id: a.chain_id, rows: 0, head: undefined, broken });
  }
  return { ...r, chains, ok: r.ok && chains.every((c) => !c.broken) };
}

/** Anchors from the text of a saved report (`mlgate audit verify --format jsonl`) or of a plain anchor list. */
export function parseAnchors(text: string, source: string): Anchor[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw AuditErrors.badFilter(`anchors: ${source} is not JSON (${(err as Error).message}); give a report saved with \`mlgate audit verify --format jsonl\``);
  }
  return anchorsOf(doc, source);
}

/** Most anchors one verification checks (each may cost a query; a report has one per chain). */
const MAX_ANCHORS = 1000;
const UINT64_MAX = 2n ** 64n - 1n;

/** Anchors from a parsed report (the head of each chain) or a plain anchor list. */
export function anchorsOf(doc: unknown, source: string): Anchor[] {
  type ReportTables = Array<{ table?: unknown; chains?: Array<{ chain_id?: unknown; head?: { seq?: unknown; hash?: unknown } }> }>;
  const tables = (doc as { tables?: unknown } | null)?.tables;
  if (!Array.isArray(doc) && !Array.isArray(tables)) {
    throw AuditErrors.badFilter(`anchors: ${source} is neither a verification report (with "tables") nor a list of anchors`);
  }
  const list: unknown[] = Array.isArray(doc)
    ? doc
    : (tables as ReportTables).flatMap((t) => (t.chains ?? []).filter((c) => c.head).map((c) => ({ table: t.table, chain_id: c.chain_id, seq: c.head!.seq, hash: c.head!.hash })));
  if (list.length > MAX_ANCHORS) {
    throw AuditErrors.badFilter(`anchors: ${source} holds ${list.length} anchors; at most ${MAX_ANCHORS} (one per chain head) are checked in one call`);
  }
  return list.map((a, i) => {
    const x = a as Record<string, unknown>;
    const ok = (CHAINED_TABLES as readonly unknown[]).includes(x.table) && typeof x.chain_id === 'string' && CHAIN_ID.test(x.chain_id)
      && typeof x.seq === 'string' && /^[1-9]\d{0,19}$/.test(x.seq) && BigInt(x.seq) <= UINT64_MAX
      && typeof x.hash === 'string' && /^[0-9a-f]{64}$/.test(x.hash);
    if (!ok) throw AuditErrors.badFilter(`anchors: entry ${i} of ${source} needs table (one of ${CHAINED_TABLES.join(', ')}), chain_id, seq (decimal) and hash (64 hex)`);
    return { table: x.table as ChainedTable, chain_id: x.chain_id as string, seq: x.seq as string, hash: x.hash as string };
  });
}

/** Fails with MLG_AUD_SCHEMA_MISSING unless every table in `tables` has the chain columns. */
export async function requireChainColumns(wh: Warehouse, tables: readonly string[]): Promise<void> {
  const rows = await wh.query<{ table: string; n: string }>(
    `SELECT table, toString(count()) AS n FROM system.columns WHERE database = {db:String} AND table IN {tables:Array(String)}
     AND name IN ('chain_id', 'seq', 'prev_hash', 'hash') GROUP BY table`,
    { db: wh.database, tables },
  );
  const have = new Map(rows.map((r) => [r.table, Number(r.n)]));
  const missing = tables.filter((t) => have.get(t) !== 4);
  if (missing.length) {
    throw AuditErrors.schemaMissing(`table(s) ${missing.join(', ')} lack the audit chain columns in database ${wh.database}: run \`mlgate migrate\``);
  }
}
