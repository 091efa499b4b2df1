// The pure hash chain: canonical form, hashing, and the verifier naming each kind of broken link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChainVerifier, GENESIS, canonicalRow, rowHash, verifyChain, type StoredRow } from '../../services/ledger/chain.ts';
import { CHAIN_SPECS } from '../../services/ledger/chained-tables.ts';

const spec = CHAIN_SPECS.canary_decisions;

function decision(i: number): Record<string, unknown> {
  return {
    decision_id: `d${i}`, ts: 1_790_000_000_000 + i, rollout_id: 'ro-1', model: 'm', stable_version: 'v1', canary_version: 'v2', step: i,
    weight_before: 100 / 3, weight_after: 0.1 + 0.2, action: 'wait', reason: `tick ${i}`, evidence: '{"p":0.5}', actor: 'controller', generation: 7 + i,
  };
}

/** A valid chain of `n` rows as ClickHouse returns them (ts and seq as text). */
function chain(n: number, chainId = 'ctl-1'): StoredRow[] {
  const rows: StoredRow[] = [];
  let prev = GENESIS;
  for (let i = 1; i <= n; i++) {
    const content = decision(i);
    const hash = rowHash(spec, content, { chain_id: chainId, seq: i, prev_hash: prev });
    rows.push({ ...content, ts: String(content.ts), generation: String(content.generation), chain_id: chainId, seq: String(i), prev_hash: prev, hash });
    prev = hash;
  }
  return rows;
}

test('the canonical form normalises what ClickHouse returns: ms and UInt64 as text hash like numbers', () => {
  const written = decision(1);
  const read = { ...written, ts: String(written.ts), generation: String(written.generation), step: 1 };
  const pos = { chain_id: 'c', seq: 1, prev_hash: GENESIS };
  assert.equal(canonicalRow(spec, read, pos), canonicalRow(spec, written, pos));
  assert.equal(rowHash(spec, read, { ...pos, seq: '1' }), rowHash(spec, written, pos));
  assert.match(rowHash(spec, written, pos), /^[0-9a-f]{64}$/);
});

test('every content field, the table, the chain, the seq and prev_hash change the hash', () => {
  const base = decision(1);
  const pos = { chain_id: 'c', seq: 1, prev_hash: GENESIS };
  const h = rowHash(spec, base, pos);
  for (const [name, kind] of spec.fields) {
    const changed = { ...base, [name]: kind === 'string' ? `${String(base[name])}x` : Number(base[name]) + 1 };
    assert.notEqual(rowHash(spec, changed, pos), h, `changing ${name} kept the hash`);
  }
  assert.notEqual(rowHash(spec, base, { ...pos, chain_id: 'd' }), h);
  assert.notEqual(rowHash(spec, base, { ...pos, seq: 2 }), h);
  assert.notEqual(rowHash(spec, base, { ...pos, prev_hash: 'a'.repeat(64) }), h);
  assert.notEqual(rowHash({ ...spec, table: 'admin_changes' }, base, pos), h);
});

test('the canonical form rejects values of the wrong kind instead of hashing them loosely', () => {
  assert.throws(() => canonicalRow(spec, { ...decision(1), ts: 'yesterday' }, { chain_id: 'c', seq: 1, prev_hash: GENESIS }), /ts: expected an integer/);
  assert.throws(() => canonicalRow(spec, { ...decision(1), weight_after: Number.NaN }, { chain_id: 'c', seq: 1, prev_hash: GENESIS }), /weight_after/);
});

test('a valid chain verifies in any order of arrival and reports its head', () => {
  const rows = chain(5);
  assert.equal(verifyChain(spec, 'ctl-1', [...rows].reverse()), undefined);
  const v = new ChainVerifier(spec, 'ctl-1');
  for (const r of rows) assert.equal(v.push(r), undefined);
  assert.deepEqual(v.head, { seq: '5', hash: rows[4]!.hash, id: 'd5' });
  assert.equal(v.rows, 5);
});

test('a changed row breaks at that row with the expected and found hashes', () => {
  const rows = chain(5);
  rows[2] = { ...rows[2]!, reason: 'rewritten' };
  const b = verifyChain(spec, 'ctl-1', rows)!;
  assert.equal(b.kind, 'hash');
  assert.equal(b.seq, '3');
  assert.equal(b.id, 'd3');
  assert.equal(b.found, rows[2]!.hash);
  assert.equal(b.expected, rowHash(spec, rows[2]!, { chain_id: 'ctl-1', seq: 3, prev_hash: rows[2]!.prev_hash }));
  assert.match(b.message, /canary_decisions chain "ctl-1" seq 3 \(decision_id d3\)/);
});

test('a row rewritten with a recomputed hash breaks the next link', () => {
  const rows = chain(4);
  const forged = { ...rows[1]!, reason: 'forged' };
  forged.hash = rowHash(spec, forged, { chain_id: 'ctl-1', seq: 2, prev_hash: forged.prev_hash });
  rows[1] = forged;
  const b = verifyChain(spec, 'ctl-1', rows)!;
  assert.equal(b.kind, 'prev_hash');
  assert.equal(b.seq, '3');
  assert.equal(b.found, rows[2]!.prev_hash);
  assert.equal(b.expected, forged.hash);
});

test('a deleted row, a missing start and a second row at one seq are each named', () => {
  const rows = chain(5);
  const gap = verifyChain(spec, 'ctl-1', rows.filter((r) => r.seq !== '3'))!;
  assert.deepEqual([gap.kind, gap.seq, gap.expected, gap.found], ['seq_gap', '4', 'seq 3', 'seq 4']);
  const start = verifyChain(spec, 'ctl-1', rows.slice(1))!;
  assert.deepEqual([start.kind, start.seq], ['seq_start', '2']);
  const fork = verifyChain(spec, 'ctl-1', [...rows, { ...rows[3]!, decision_id: 'other' }])!;
  assert.equal(fork.kind, 'fork');
  assert.equal(fork.seq, '4');
});

test('the verifier stops at the first break: later rows do not replace it', () => {
  const rows = chain(6);
  rows[1] = { ...rows[1]!, actor: 'mallory' };
  rows[4] = { ...rows[4]!, actor: 'mallory' };
  const v = new ChainVerifier(spec, 'ctl-1');
  for (const r of rows) v.push(r);
  assert.equal(v.broken?.seq, '2');
  assert.equal(v.head?.seq, '1');
});
