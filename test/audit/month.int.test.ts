// The done criteria over the real schema on the embedded engine: a seeded month of 1,000,000
// synthetic events plus known rows. Each audit question gets its known answer (consumer over a
// time range, every page of a walk, summaries, every request with an input hash computed from a
// payload by the CLI, one request by event id and by trace id, a rollout's decisions, admin
// changes); erasure leaves zero rows plus a chained erasure record; changing one decision row
// makes `mlgate audit verify` fail at that row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MlgateError } from '../../services/core/errors.ts';
import { createChainedWriter } from '../../services/ledger/chained-writer.ts';
import type { RequestRecord } from '../../services/audit/request-queries.ts';
import { cli, jsonl, seeded } from './helpers.ts';

const ROWS = 1_000_000;
const DAY = 86_400_000;

test('a month of 1,000,000 events: every audit query, erasure and verify', async (t) => {
  const s = await seeded(t, ROWS);
  const { wh, service, known, now } = s;
  const iso = (ms: number) => new Date(ms).toISOString();
  const count = async (sql: string, params?: Record<string, unknown>) => Number((await wh.query<{ n: string }>(sql, params))[0]!.n);

  await t.test('the seed holds a month of at least 1,000,000 rows', async () => {
    assert.ok(s.total >= ROWS + 250, `total ${s.total}`);
    const span = (await wh.query<{ lo: number; hi: number }>(
      'SELECT toUnixTimestamp64Milli(min(ts)) AS lo, toUnixTimestamp64Milli(max(ts)) AS hi FROM {db}.requests SETTINGS output_format_json_quote_64bit_integers = 0'))[0]!;
    assert.ok(s.end - span.lo >= 29.9 * DAY && span.hi <= s.end, `${iso(span.lo)} .. ${iso(span.hi)}`);
  });

  await t.test('one consumer over a time range: exactly its rows in the range, oldest first', async () => {
    const from = now - 7 * DAY;
    const expected = known.consumerRows.filter((r) => r.ts >= from).sort((a, b) => a.ts - b.ts).map((r) => r.event_id);
    assert.ok(expected.length > 50);
    const page = await service.requests({ consumer: known.consumer, from: 'now-7d', limit: '1000' });
    assert.deepEqual(page.rows.map((r) => r.event_id), expected);
    assert.equal(page.next_cursor, null);
    for (const r of page.rows) assert.equal(r.consumer_id, known.consumer);
    // Over the month in pages of 7: the pages probe 1-day and 8-day windows first; none is lost or repeated.
    const all = known.consumerRows.filter((r) => r.ts >= now - 30 * DAY).sort((a, b) => a.ts - b.ts).map((r) => r.event_id);
    const walked: string[] = [];
    for (let c: string | undefined, first = true; first || c; first = false) {
      const p = await service.requests({ consumer: known.consumer, from: 'now-30d', limit: '7', ...(c ? { cursor: c } : {}) });
      walked.push(...p.rows.map((r) => r.event_id));
      c = p.next_cursor ?? undefined;
    }
    assert.deepEqual(walked, all);
    // A synthetic consumer over one day, every page walked, against an independent count.
    const lo = now - 3 * DAY;
    const hi = now - 2 * DAY;
    const truth = await count(
      "SELECT toString(count()) AS n FROM {db}.requests WHERE consumer_id = 'consumer-7' AND ts >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')",
      { lo, hi });
    assert.ok(truth > 100, `consumer-7 has ${truth} rows that day`);
    const seen: RequestRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const p = await service.requests({ consumer: 'consumer-7', from: iso(lo), to: iso(hi), limit: '97', ...(cursor ? { cursor } : {}) });
      seen.push(...p.rows);
      cursor = p.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    assert.equal(seen.length, truth);
    assert.equal(pages, Math.ceil(truth / 97));
    assert.equal(new Set(seen.map((r) => r.event_id)).size, truth);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]!.ts <= seen[i]!.ts, 'pages are in time order');
    for (const r of seen) assert.ok(r.consumer_id === 'consumer-7' && Date.parse(r.ts) >= lo && Date.parse(r.ts) < hi);
  });

  await t.test('a full redacted record: every event field, ts as ISO text', async () => {
    const row = await service.event(known.primaryEventId);
    assert.equal(row.event_id, known.primaryEventId);
    assert.equal(row.consumer_id, 'trace-owner');
    assert.equal(row.ts, iso(s.end - 3_600_000));
    assert.deepEqual(row.redactions, { EMAIL: 1 });
    assert.equal(row.input_redacted, '{"text":"hello <EMAIL>"}');
    for (const f of ['route', 'model', 'version', 'role', 'outcome', 'latency_ms', 'input_hash', 'output_hash', 'hash_key_id', 'trace_id', 'span_id', 'schema_version', 'ingested_at']) {
      assert.ok(f in row, `record lacks ${f}`);
    }
    await assert.rejects(service.event('01890a5d-ac96-774b-bcce-b302099a8057'), (e: unknown) => e instanceof MlgateError && e.code === 'MLG_AUD_NOT_FOUND');
    const byTrace = await service.trace(known.traceId);
    assert.deepEqual(byTrace.map((r) => [r.event_id, r.role, r.correlation_id]), [
      [known.primaryEventId, 'stable', ''], [known.shadowEventId, 'shadow', known.primaryEventId],
    ]);
    const viaCli = await cli(['event', known.shadowEventId, '-c', s.configFile]);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    assert.match(viaCli.stdout, new RegExp(`correlation_id\\s+${known.primaryEventId}`));
  });

  await t.test('summaries by consumer, model, version and outcome match the rows', async () => {
    const rows = await service.summary({ consumer: known.consumer, from: 'now-30d', by: 'model,version,outcome' });
    const want = new Map<string, number>();
    for (const r of known.consumerRows) {
      if (r.ts < now - 30 * DAY) continue;
      const k = `${r.model}/${r.version}/${r.outcome}`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    const got = new Map(rows.map((r) => [`${String(r.model)}/${String(r.version)}/${String(r.outcome)}`, r.requests]));
    assert.deepEqual(got, want);
    const day = { from: iso(now - 2 * DAY), to: iso(now - DAY) };
    const all = await service.summary({ ...day, by: 'outcome' });
    const truth = await count(
      "SELECT toString(count()) AS n FROM {db}.requests WHERE ts >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')",
      { lo: now - 2 * DAY, hi: now - DAY });
    assert.equal(all.reduce((sum, r) => sum + r.requests, 0), truth);
    assert.equal(all.find((r) => r.outcome === 'ok')!.ok, all.find((r) => r.outcome === 'ok')!.requests);
  });

  await t.test('every request with an input hash: the CLI hashes the payload like the gateway', async () => {
    // Same JSON, other key order and spacing: one canonical form, one keyed hash.
    const file = join(tmpdir(), `payload-${process.pid}.json`);
    writeFileSync(file, '{ "account": 42,\n  "text": "my email is jane.doe@example.com" }');
    const hash = await cli(['hash', '--payload-file', file, '-c', s.configFile]);
    assert.equal(hash.stdout.trim(), known.payloadHash);
    const r = await cli(['input', '--payload-file', file, '--format', 'jsonl', '-c', s.configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`input_hash ${known.payloadHash}`));
    const rows = jsonl<RequestRecord>(r.stdout);
    assert.deepEqual(new Set(rows.map((x) => x.event_id)), new Set(known.payloadEvents));
    assert.deepEqual(rows.map((x) => x.consumer_id).sort(), ['acme-audit-7-other', 'beta-labs', 'beta-labs', 'beta-labs', 'consumer-3', 'consumer-3']);
    // A synthetic hash (payloads repeat), against an independent count.
    const some = (await wh.query<{ h: string }>("SELECT input_hash AS h FROM {db}.requests WHERE src_offset = 777777 AND src_topic = 'seed'"))[0]!.h;
    const truth = await count('SELECT toString(count()) AS n FROM {db}.requests WHERE input_hash = {h:String}', { h: some });
    const page = await service.byInputHash({ input_hash: some, limit: '1000' });
    assert.equal(page.rows.length, truth);
    assert.ok(page.rows.every((x) => x.input_hash === some));
    const wrong = await cli(['input', '--hash', 'not-a-hash', '-c', s.configFile]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /MLG_AUD_BAD_FILTER: input_hash: "not-a-hash" is not a hash/);
  });

  await t.test("a rollout's history: every decision with its evidence, and admin changes", async () => {
    const w = createChainedWriter(wh, { table: 'canary_decisions', chainId: 'controller-1' });
    const evidence = (i: number) => ({ v: 1, step: i, canary: { requests: 1000 * i, errors: i }, verdicts: [{ name: 'error_rate', status: 'pass' }] });
    for (let i = 0; i < 5; i++) {
      await w.append({
        decision_id: `d-${i}`, ts: now - (5 - i) * 60_000, rollout_id: 'ro-audit', model: 'sentiment', stable_version: 'v1', canary_version: 'v2',
        step: i, weight_before: i * 10, weight_after: (i + 1) * 10, action: i === 4 ? 'rollback' : 'promote', reason: `step ${i}`, evidence: evidence(i), actor: 'controller',
      });
      await w.append({
        decision_id: `other-${i}`, ts: now - i * 1000, rollout_id: 'ro-other', model: 'fraud', stable_version: 'v1', canary_version: 'v3', step: 0,
        weight_before: 0, weight_after: 5, action: 'wait', reason: '', evidence: {}, actor: 'controller',
      });
    }
    const page = await service.rollout('ro-audit', {});
    assert.deepEqual(page.rows.map((r) => [r.decision_id, r.action, r.weight_after]), [
      ['d-0', 'promote', 10], ['d-1', 'promote', 20], ['d-2', 'promote', 30], ['d-3', 'promote', 40], ['d-4', 'rollback', 50]]);
    page.rows.forEach((r, i) => assert.deepEqual(r.evidence, evidence(i)));
    assert.ok(page.rows.every((r) => typeof r.hash === 'string' && (r.hash as string).length === 64 && r.chain_id === 'controller-1'));
    const a = createChainedWriter(wh, { table: 'admin_changes', chainId: 'gw-1' });
    await a.append({ change_id: 'c-1', ts: now - 7200_000, actor: 'alice', action: 'set_weights', target: 'sentiment', before: { v2: 0 }, after: { v2: 10 }, reason: 'start canary' });
    await a.append({ change_id: 'c-2', ts: now - 3600_000, actor: 'bob', action: 'trip', target: 'sentiment/v2', before: {}, after: { state: 'tripped' } });
    await a.append({ change_id: 'c-3', ts: now - 1800_000, actor: 'alice', action: 'reload', target: 'config', before: {}, after: {} });
    const bySentiment = await service.adminChanges({ model: 'sentiment', from: 'now-1d' });
    assert.deepEqual(bySentiment.rows.map((r) => r.change_id), ['c-1', 'c-2']);
    assert.deepEqual(bySentiment.rows[0]!.after, { v2: 10 });
    assert.deepEqual((await service.adminChanges({ actor: 'alice', from: 'now-1d' })).rows.map((r) => r.change_id), ['c-1', 'c-3']);
  });

  await t.test('erasure of a consumer and of an input hash leaves zero rows and a chained record', async () => {
    const before = await count('SELECT toString(count()) AS n FROM {db}.requests WHERE consumer_id = {c:String}', { c: known.consumer });
    assert.equal(before, 240);
    const r = await cli(['erase', '--consumer', known.consumer, '--actor', 'dpo@example.com', '--reason', 'GDPR art. 17 ticket 4711', '--format', 'jsonl', '-c', s.configFile]);
    assert.equal(r.code, 0, r.stderr);
    const [record] = jsonl(r.stdout);
    assert.deepEqual(record!.deleted, { requests: 240 });
    assert.deepEqual(record!.remaining, { requests: 0 });
    assert.equal(record!.selector_hash, s.hasher.hashValue({ consumer_id: known.consumer }));
    assert.equal(await count('SELECT toString(count()) AS n FROM {db}.requests WHERE consumer_id = {c:String}', { c: known.consumer }), 0);
    assert.equal(await count('SELECT toString(count()) AS n FROM {db}.requests'), s.total - 240);
    const check = await cli(['verify-erasure', '--consumer', known.consumer, '-c', s.configFile]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /OK: nothing of the consumer remains .* erasures logged: 1/);
    // The log holds the keyed hash, never the raw id.
    assert.equal(await count("SELECT toString(count()) AS n FROM {db}.erasure_log WHERE position(concat(actor, reason, selector_hash, rows_deleted), {c:String}) > 0", { c: known.consumer }), 0);

    const file = join(tmpdir(), `payload-erase-${process.pid}.json`);
    writeFileSync(file, known.payload);
    const byHash = await cli(['erase', '--payload-file', file, '--actor', 'dpo@example.com', '--format', 'jsonl', '-c', s.configFile]);
    assert.equal(byHash.code, 0, byHash.stderr);
    assert.deepEqual(jsonl(byHash.stdout)[0]!.deleted, { requests: known.payloadEvents.length });
    assert.equal((await service.byInputHash({ input_hash: known.payloadHash })).rows.length, 0);
    const log = await cli(['erasures', '--from', 'now-1h', '--format', 'jsonl', '-c', s.configFile]); // the CLI's clock: the real one
    assert.deepEqual(jsonl(log.stdout).map((x) => [x.selector_kind, x.actor, x.seq, x.rows_deleted]), [
      ['consumer', 'dpo@example.com', 1, { requests: 240 }], ['input_hash', 'dpo@example.com', 2, { requests: known.payloadEvents.length }]]);
    const verify = await cli(['verify', '--table', 'erasure_log', '-c', s.configFile]);
    assert.equal(verify.code, 0, verify.stdout);
  });

  await t.test('changing one decision row in ClickHouse makes `mlgate audit verify` fail at that row', async () => {
    const ok = await cli(['verify', '-c', s.configFile]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /OK: every chain verifies/);
    // A report saved now is the anchor file of later verifications.
    const saved = await cli(['verify', '--format', 'jsonl', '-c', s.configFile]);
    const anchorFile = join(mkdtempSync(join(tmpdir(), 'mlgate-anchors-')), 'report.json');
    writeFileSync(anchorFile, saved.stdout);
    const anchored = await cli(['verify', '--anchors', anchorFile, '-c', s.configFile]);
    assert.equal(anchored.code, 0, anchored.stdout + anchored.stderr);
    const missing = await cli(['verify', '--anchors', `${anchorFile}.missing`, '-c', s.configFile]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--anchors: cannot read/);
    const seq = (await wh.query<{ s: string }>("SELECT toString(seq) AS s FROM {db}.canary_decisions WHERE decision_id = 'd-2'"))[0]!.s;
    await wh.command("ALTER TABLE {db}.canary_decisions UPDATE action = 'promote', reason = 'looks fine' WHERE decision_id = 'd-2' SETTINGS mutations_sync = 2");
    const bad = await cli(['verify', '-c', s.configFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`FIRST BROKEN LINK: canary_decisions chain "controller-1" seq ${seq} \\(decision_id d-2\\): the row was changed after it was written`));
    const json = await cli(['verify', '--format', 'jsonl', '-c', s.configFile]);
    const report = jsonl<{ ok: boolean; firstBreak: { table: string; seq: string; id: string; kind: string } }>(json.stdout)[0]!;
    assert.deepEqual([report.ok, report.firstBreak.table, report.firstBreak.seq, report.firstBreak.id, report.firstBreak.kind], [false, 'canary_decisions', seq, 'd-2', 'hash']);
  });
});
