// The chained writer and `verify` on the embedded engine: appends linked and resumed from
// ClickHouse, serialised under concurrency, a second writer on one chain refused, a retried
// append stored once; then tampering (an UPDATE, a DELETE, a forged insert, a fork) found at the
// row it touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MlgateError } from '../../services/core/errors.ts';
import { createChainedWriter } from '../../services/ledger/chained-writer.ts';
import { createChainedAdminChangeRecorder } from '../../services/ledger/chained-admin-changes.ts';
import { parseAnchors, verifyChains } from '../../services/audit/verify.ts';
import { GENESIS } from '../../services/ledger/chain.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';

const T0 = Date.now() - 3_600_000;

function decision(i: number, over: Record<string, unknown> = {}) {
  return {
    decision_id: `dec-${i}`, ts: T0 + i * 1000, rollout_id: 'ro-1', model: 'sentiment', stable_version: 'v1', canary_version: 'v2',
    step: i % 5, weight_before: (i * 100) / 7 % 100, weight_after: ((i + 1) * 100) / 7 % 100, action: 'wait', reason: `tick ${i}`,
    evidence: { v: 1, p: 1 / 3, window: [T0, T0 + i] }, actor: 'controller', generation: i, ...over,
  };
}

async function chainRows(wh: Warehouse, table: string, chain: string) {
  return wh.query<{ seq: string; prev_hash: string; hash: string }>(
    `SELECT toString(seq) AS seq, prev_hash, hash FROM {db}.${table} WHERE chain_id = {c:String} ORDER BY seq SETTINGS prefer_column_name_to_alias = 1`, { c: chain });
}

async function rejects(p: Promise<unknown>, code: string): Promise<MlgateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MlgateError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

test('appends link each row to the previous one, and a new writer resumes the chain from ClickHouse', async (t) => {
  const wh = await embeddedWarehouse(t);
  const w = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'controller-1' });
  assert.equal(await w.head(), null);
  const a = await w.append(decision(1));
  const b = await w.append(decision(2));
  assert.deepEqual([a.seq, a.prev_hash, b.seq, b.prev_hash], [1, GENESIS, 2, a.hash]);
  assert.equal(typeof a.evidence, 'string'); // objects are stored as JSON text
  const again = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'controller-1' });
  assert.deepEqual(await again.head(), { seq: 2, hash: b.hash, id: 'dec-2' });
  const c = await again.append(decision(3));
  assert.deepEqual([c.seq, c.prev_hash], [3, b.hash]);
  assert.deepEqual((await chainRows(wh, 'canary_decisions', 'controller-1')).map((r) => r.seq), ['1', '2', '3']);
  const report = await verifyChains(wh);
  assert.equal(report.ok, true, report.firstBreak?.message);
  assert.deepEqual(report.tables[0]!.chains[0]!.head, { seq: '3', hash: c.hash, id: 'dec-3' });
});

test('concurrent appends are serialised into one unbroken chain; two chains of one table verify apart', async (t) => {
  const wh = await embeddedWarehouse(t);
  const w1 = createChainedWriter(wh, { table: 'admin_changes', chainId: 'gw-1' });
  const w2 = createChainedWriter(wh, { table: 'admin_changes', chainId: 'gw-2' });
  const change = (gw: string, i: number) => ({
    change_id: `${gw}-${i}`, ts: T0 + i, actor: 'ops', action: 'set_weights', target: 'sentiment', before: { w: i }, after: { w: i + 1 }, reason: `r${i}`,
  });
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => [w1.append(change('gw-1', i)), w2.append(change('gw-2', i))]).flat());
  assert.equal(results.length, 40);
  for (const chain of ['gw-1', 'gw-2']) {
    const rows = await chainRows(wh, 'admin_changes', chain);
    assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: 20 }, (_, i) => i + 1));
    rows.forEach((r, i) => assert.equal(r.prev_hash, i === 0 ? GENESIS : rows[i - 1]!.hash));
  }
  const report = await verifyChains(wh, { tables: ['admin_changes'], window: 3 });
  assert.equal(report.ok, true, report.firstBreak?.message);
  assert.deepEqual(report.tables[0]!.chains.map((c) => [c.chain_id, c.rows]), [['gw-1', 20], ['gw-2', 20]]);
});

test('a second process on the same chain id is refused instead of forking the chain', async (t) => {
  const wh = await embeddedWarehouse(t);
  const mine = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl' });
  const other = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl' });
  await mine.append(decision(1));
  await other.append(decision(2)); // resumes at seq 2
  const err = await rejects(mine.append(decision(3)), 'MLG_AUD_CHAIN_CONFLICT');
  assert.match(err.message, /moved from seq 1 to seq 2/);
  const retry = await mine.append(decision(3)); // it re-read the head: it may continue now
  assert.equal(retry.seq, 3);
  assert.equal((await verifyChains(wh, { tables: ['canary_decisions'] })).ok, true);
});

test('an append whose insert landed but reported failure is stored once when retried', async (t) => {
  const wh = await embeddedWarehouse(t);
  let failNext = false;
  const flaky: Warehouse = Object.create(wh, {
    insert: {
      value: async (table: string, rows: readonly object[], opts: object) => {
        await wh.insert(table, rows, opts);
        if (failNext) {
          failNext = false;
          throw new Error('socket hang up after the insert');
        }
      },
    },
  });
  const w = createChainedWriter(flaky, { table: 'canary_decisions', chainId: 'ctl' });
  await w.append(decision(1));
  failNext = true;
  await assert.rejects(w.append(decision(2)), /socket hang up/);
  const retried = await w.append(decision(2));
  assert.equal(retried.seq, 2);
  const next = await w.append(decision(3));
  assert.equal(next.seq, 3);
  assert.deepEqual((await chainRows(wh, 'canary_decisions', 'ctl')).map((r) => r.seq), ['1', '2', '3']);
  assert.equal((await verifyChains(wh, { tables: ['canary_decisions'] })).ok, true);
});

test('bad options and bad rows are refused before anything is written', async (t) => {
  const wh = await embeddedWarehouse(t);
  assert.throws(() => createChainedWriter(wh, { table: 'requests' as never, chainId: 'x' }), /MLG_AUD_BAD_OPTIONS|table must be one of/);
  assert.throws(() => createChainedWriter(wh, { table: 'admin_changes', chainId: 'no spaces' }), /chainId "no spaces" must match/);
  const w = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl' });
  const err = await rejects(w.append(decision(1, { action: 'explode', weight_after: 150 }) as never), 'MLG_AUD_BAD_ROW');
  assert.match(err.message, /action/);
  assert.match(err.message, /weight_after/);
  const e = createChainedWriter(wh, { table: 'erasure_log', chainId: 'audit' });
  await rejects(e.append({ erasure_id: 'e1', ts: T0, actor: 'a', selector_kind: 'consumer', selector_hash: 'raw-email@example.com' } as never), 'MLG_AUD_BAD_ROW');
  assert.equal((await wh.query<{ n: number }>('SELECT count() AS n FROM {db}.canary_decisions'))[0]!.n, 0);
});

test('verify names the first broken link: a changed row, a deleted row, a forged row, a fork', async (t) => {
  const wh = await embeddedWarehouse(t);
  const w = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl' });
  for (let i = 1; i <= 6; i++) await w.append(decision(i));
  assert.equal((await verifyChains(wh)).ok, true);

  await wh.command("ALTER TABLE {db}.canary_decisions UPDATE weight_after = 100 WHERE decision_id = 'dec-4' SETTINGS mutations_sync = 2");
  let r = await verifyChains(wh);
  assert.equal(r.ok, false);
  assert.deepEqual([r.firstBreak?.table, r.firstBreak?.chain_id, r.firstBreak?.seq, r.firstBreak?.id, r.firstBreak?.kind],
    ['canary_decisions', 'ctl', '4', 'dec-4', 'hash']);
  assert.deepEqual(r.tables[0]!.chains[0]!.head?.seq, '3');

  await wh.command("ALTER TABLE {db}.canary_decisions DELETE WHERE decision_id = 'dec-4' SETTINGS mutations_sync = 2");
  r = await verifyChains(wh, { window: 2 });
  assert.deepEqual([r.firstBreak?.kind, r.firstBreak?.seq, r.firstBreak?.expected], ['seq_gap', '5', 'seq 4']);

  const w2 = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl-b' });
  await w2.append(decision(10));
  const [row] = await wh.query<Record<string, unknown>>("SELECT * FROM {db}.canary_decisions WHERE chain_id = 'ctl-b'");
  await wh.insert('canary_decisions', [{ ...row, ts: T0, decision_id: 'forged' }]);
  r = await verifyChains(wh, { tables: ['canary_decisions'] });
  const b = r.tables[0]!.chains.find((c) => c.chain_id === 'ctl-b')!.broken!;
  assert.deepEqual([b.kind, b.seq], ['fork', '1']);

  await wh.insert('canary_decisions', [{ ...decision(99), evidence: '{}' }]);
  r = await verifyChains(wh, { tables: ['canary_decisions'] });
  assert.equal(r.tables[0]!.unchained, 1);
  assert.deepEqual(r.tables[0]!.unchainedIds, ['dec-99']);
  const lenient = await verifyChains(wh, { tables: ['canary_decisions'], allowUnchained: true });
  assert.equal(lenient.tables[0]!.unchained, 1);
  assert.equal(lenient.firstBreak?.kind, 'seq_gap'); // still broken by the deletion, but not by the unchained row
});

test('verify refuses a database without the chain columns, naming the fix', async (t) => {
  const wh = await embeddedWarehouse(t, {}, { migrated: false });
  await wh.command('CREATE DATABASE IF NOT EXISTS {db}');
  await wh.command("CREATE TABLE {db}.canary_decisions (decision_id String, ts DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY ts");
  const err = await rejects(verifyChains(wh, { tables: ['canary_decisions'] }), 'MLG_AUD_SCHEMA_MISSING');
  assert.match(err.message, /run `mlgate migrate`/);
});

test('the gateway\'s admin-change recorder port writes a verifiable chain, null states included', async (t) => {
  const wh = await embeddedWarehouse(t);
  const rec = createChainedAdminChangeRecorder(wh, { chainId: 'gw-eu-1' });
  await rec.record({ id: 'ch-1', actor: 'alice', action: 'set_weights', target: 'sentiment', before: null, after: { v1: 90, v2: 10 }, at: T0, reason: 'canary' });
  await rec.record({ id: 'ch-2', actor: 'bob', action: 'trip', target: 'sentiment/v2', before: { state: 'active' }, after: { state: 'tripped' }, at: T0 + 1, reason: '' });
  const rows = await wh.query<{ change_id: string; before: string; after: string; reason: string; seq: string }>(
    "SELECT change_id, before, after, reason, toString(seq) AS seq FROM {db}.admin_changes ORDER BY seq SETTINGS prefer_column_name_to_alias = 1");
  assert.deepEqual(rows.map((r) => [r.change_id, r.before, r.after, r.reason, r.seq]), [
    ['ch-1', 'null', '{"v1":90,"v2":10}', 'canary', '1'], ['ch-2', '{"state":"active"}', '{"state":"tripped"}', '', '2']]);
  assert.equal((await verifyChains(wh, { tables: ['admin_changes'] })).ok, true);
});

test('anchors from an earlier report catch what a chain alone cannot: rows cut from its end, a rewrite, a deleted chain', async (t) => {
  const wh = await embeddedWarehouse(t);
  const w = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl' });
  for (let i = 1; i <= 6; i++) await w.append(decision(i));
  const saved = await verifyChains(wh, { tables: ['canary_decisions'] });
  const anchors = parseAnchors(JSON.stringify(saved), 'saved report');
  assert.deepEqual(anchors.map((a) => [a.table, a.chain_id, a.seq]), [['canary_decisions', 'ctl', '6']]);
  assert.equal((await verifyChains(wh, { anchors })).ok, true, 'an untouched chain verifies against its own anchor');
  await w.append(decision(7));
  assert.equal((await verifyChains(wh, { anchors })).ok, true, 'a chain that grew past its anchor verifies');

  // Cut the last three rows: the rest still links up, so only the anchor can tell.
  await wh.command('ALTER TABLE {db}.canary_decisions DELETE WHERE seq >= 5 SETTINGS mutations_sync = 2');
  assert.equal((await verifyChains(wh)).ok, true, 'without anchors a truncated chain looks fine');
  let r = await verifyChains(wh, { anchors });
  assert.equal(r.ok, false);
  assert.deepEqual([r.firstBreak?.kind, r.firstBreak?.chain_id, r.firstBreak?.seq], ['truncated', 'ctl', '6']);
  assert.match(r.firstBreak!.message, /ends at seq 4, but seq 6 .* was recorded: rows were removed from its end/);

  // Rewrite it whole with different content: a valid chain, with other hashes.
  await wh.command("ALTER TABLE {db}.canary_decisions DELETE WHERE chain_id = 'ctl' SETTINGS mutations_sync = 2");
  const forger = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'ctl' });
  for (let i = 1; i <= 6; i++) await forger.append(decision(i, { reason: `rewritten ${i}` }));
  assert.equal((await verifyChains(wh)).ok, true, 'a rewritten chain links up by itself');
  r = await verifyChains(wh, { anchors });
  assert.deepEqual([r.firstBreak?.kind, r.firstBreak?.seq, r.firstBreak?.id], ['rewritten', '6', 'dec-6']);

  // Delete the chain entirely.
  await wh.command("ALTER TABLE {db}.canary_decisions DELETE WHERE chain_id = 'ctl' SETTINGS mutations_sync = 2");
  r = await verifyChains(wh, { anchors });
  assert.deepEqual([r.firstBreak?.kind, r.tables[0]!.ok], ['truncated', false]);
  assert.match(r.firstBreak!.message, /has no rows now/);

  // Bad anchor files are refused, naming the problem.
  assert.throws(() => parseAnchors('{not json', 'a.json'), /anchors: a.json is not JSON/);
  assert.throws(() => parseAnchors('{"x":1}', 'a.json'), /neither a verification report/);
  assert.throws(() => parseAnchors('[{"table":"requests","chain_id":"c","seq":"1","hash":"00"}]', 'a.json'), /entry 0 of a.json needs table/);
});
