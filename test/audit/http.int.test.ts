// The HTTP audit API on a real listener (port 0): tokens and roles, keyset pages, lookups,
// the payload-hash route, the streaming export (including a window denser than one chunk),
// erasure, payload hashing and erasure checks by the admin role only, verify and retention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { runAuditServer } from '../../services/audit/main.ts';
import { knownRow } from '../../bench/audit/seed.ts';
import { chdbPath } from '../support/infra.ts';
import { HASHING, TOKENS, jsonl, seeded, writeConfig } from './helpers.ts';

const [AUDITOR, DPO] = [TOKENS[0]!.token, TOKENS[1]!.token];

test('the audit API', async (t) => {
  const s = await seeded(t, 20_000);
  const configFile = writeConfig({
    warehouse: { engine: 'embedded', path: chdbPath(), database: s.wh.database, retention: { requests: 60 } },
    telemetry: { hashing: HASHING }, log: { level: 'silent' }, audit: { port: 0, tokens: TOKENS, exportChunkRows: 100, maxPageSize: 500 },
  });
  const server = await runAuditServer({ configFile, env: {} });
  t.after(() => server.stop());
  const call = async (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    const token = init.token === undefined ? AUDITOR : init.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${server.url}${path}`, { ...init, headers });
    const text = await res.text();
    let body: any = text;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body, text, headers: res.headers };
  };

  await t.test('tokens: health is public; reads need a valid token; erasure needs the admin role', async () => {
    assert.equal((await call('/healthz', { token: null })).status, 200);
    const none = await call('/v1/requests', { token: null });
    assert.deepEqual([none.status, none.body.error.code], [401, 'MLG_AUD_UNAUTHORIZED']);
    assert.equal((await call('/v1/requests', { token: 'x'.repeat(30) })).status, 401);
    assert.equal((await call('/v1/requests?from=now-1h')).status, 200);
    const denied = await call('/v1/erasures', { method: 'POST', body: JSON.stringify({ consumer: 'beta-labs' }), headers: { 'content-type': 'application/json' } });
    assert.deepEqual([denied.status, denied.body.error.code], [403, 'MLG_AUD_FORBIDDEN']);
    assert.equal((await call('/v1/nowhere')).status, 404);
  });

  await t.test('pages: a keyset walk returns every row once, in order; a cursor is bound to its filter', async () => {
    const ids: string[] = [];
    let cursor: string | null = null;
    let last = '';
    do {
      const r = await call(`/v1/requests?consumer=${s.known.consumer}&from=now-31d&limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      for (const row of r.body.rows) {
        assert.ok(row.ts >= last);
        last = row.ts;
        ids.push(row.event_id);
      }
      cursor = r.body.next_cursor;
    } while (cursor);
    assert.equal(ids.length, 240);
    assert.equal(new Set(ids).size, 240);
    const first = await call(`/v1/requests?consumer=${s.known.consumer}&from=now-31d&limit=5`);
    const other = await call(`/v1/requests?consumer=beta-labs&from=now-31d&limit=5&cursor=${first.body.next_cursor}`);
    assert.deepEqual([other.status, other.body.error.code], [400, 'MLG_AUD_BAD_CURSOR']);
    const big = await call('/v1/requests?limit=501');
    assert.match(big.body.error.message, /limit: "501" must be a whole number from 1 to 500/);
  });

  await t.test('bad input is named: unknown and repeated parameters, bad ids, bad ranges', async () => {
    const unknown = await call('/v1/requests?customer=acme');
    assert.deepEqual([unknown.status, unknown.body.error.code, unknown.body.error.details.field], [400, 'MLG_AUD_BAD_FILTER', 'customer']);
    assert.match((await call('/v1/requests?model=a&model=b')).body.error.message, /model is given 2 times/);
    assert.match((await call('/v1/requests/42')).body.error.message, /event_id: "42" is not a UUID/);
    assert.equal((await call(`/v1/requests/${uuidv7()}`)).status, 404);
    const reversed = await call('/v1/requests?from=2025-05-02&to=2025-05-01');
    assert.deepEqual([reversed.status, reversed.body.error.code], [400, 'MLG_AUD_BAD_TIME_RANGE']);
    assert.match((await call('/v1/input-hashes/abc/requests')).body.error.message, /not a hash/);
    assert.match((await call('/v1/traces/xyz/requests')).body.error.message, /not a trace id/);
  });

  await t.test('lookups: event, trace, payload hash, input hash, rollout, summary', async () => {
    const ev = await call(`/v1/requests/${s.known.primaryEventId}`);
    assert.equal(ev.body.row.trace_id, s.known.traceId);
    const tr = await call(`/v1/traces/${s.known.traceId}/requests`);
    assert.deepEqual(tr.body.rows.map((r: any) => r.event_id), [s.known.primaryEventId, s.known.shadowEventId]);
    const h = await call('/v1/input-hashes', { method: 'POST', token: DPO, body: s.known.payload, headers: { 'content-type': 'application/json' } });
    assert.equal(h.body.input_hash, s.known.payloadHash);
    const byHash = await call(`/v1/input-hashes/${h.body.input_hash}/requests`);
    assert.deepEqual(new Set(byHash.body.rows.map((r: any) => r.event_id)), new Set(s.known.payloadEvents));
    const sum = await call(`/v1/requests/summary?consumer=${s.known.consumer}&from=now-31d&by=outcome`);
    assert.deepEqual(Object.fromEntries(sum.body.rows.map((r: any) => [r.outcome, r.requests])), { ok: 216, timeout: 24 });
    const ro = await call('/v1/rollouts/ro-none/decisions');
    assert.deepEqual(ro.body, { rows: [], next_cursor: null });
  });

  await t.test('export streams JSON lines and CSV, windows denser than a chunk included', async () => {
    const burstTs = s.end - 600_000;
    const burst = Array.from({ length: 350 }, (_, i) => knownRow({ event_id: uuidv7(), ts: burstTs + (i % 3), consumer_id: 'burst', src_offset: 5000 + i }));
    await s.wh.insert('requests', burst);
    const csv = await call('/v1/requests/export?consumer=burst&format=csv&from=now-1d');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    assert.equal(csv.headers.get('x-mlgate-export-rows'), '350');
    const lines = csv.text.trimEnd().split('\n');
    assert.match(lines[0]!, /^"event_id","ts",/);
    assert.equal(lines.length, 351);
    assert.equal(lines.filter((l) => l.startsWith('"event_id"')).length, 1, 'one header line');
    assert.deepEqual(new Set(lines.slice(1).map((l) => l.split(',')[0]!.replaceAll('"', ''))), new Set(burst.map((b) => b.event_id as string)));
    const js = await call(`/v1/requests/export?consumer=${s.known.consumer}&format=jsonl&from=now-31d`);
    const rows = jsonl<{ event_id: string; ts: string }>(js.text);
    assert.equal(rows.length, 240);
    assert.equal(js.headers.get('x-mlgate-export-rows'), '240');
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1]!.ts <= rows[i]!.ts);
    const empty = await call('/v1/requests/export?consumer=nobody&format=csv&from=now-1d');
    assert.match(empty.text, /^"event_id","ts",.*\n$/);
    assert.match((await call('/v1/requests/export?format=xml')).body.error.message, /format: "xml" is not one of csv, jsonl/);
    const tooBig = await call('/v1/requests/export?from=now-31d');
    assert.equal(tooBig.status, 200); // 20,000 rows is under the default cap
  });

  await t.test('erasure by the admin role, checked, logged, chained and verified', async () => {
    const r = await call('/v1/erasures', { method: 'POST', token: DPO, body: JSON.stringify({ consumer: 'beta-labs', reason: 'ticket 9' }), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual([r.body.record.actor, r.body.record.reason, r.body.deleted.requests, r.body.remaining.requests], ['dpo', 'ticket 9', 3, 0]);
    const check = await call('/v1/erasures/check?consumer=beta-labs', { token: DPO });
    assert.deepEqual([check.body.ok, check.body.remaining.requests, check.body.erasures.length], [true, 0, 1]);
    const bad = await call('/v1/erasures', { method: 'POST', token: DPO, body: JSON.stringify({ email: 'x@example.com' }), headers: { 'content-type': 'application/json' } });
    assert.match(bad.body.error.message, /unknown erasure field "email"/);
    const subject = await call('/v1/erasures', { method: 'POST', token: DPO, body: JSON.stringify({ subject: 'user-1' }), headers: { 'content-type': 'application/json' } });
    assert.deepEqual([subject.status, subject.body.error.code], [400, 'MLG_AUD_NO_SUBJECT_COLUMN']);
    const log = await call('/v1/erasures?from=now-1h');
    assert.deepEqual(log.body.rows.map((x: any) => [x.actor, x.selector_kind, x.seq]), [['dpo', 'consumer', 1]]);
    const v = await call('/v1/verify');
    assert.equal(v.body.ok, true, JSON.stringify(v.body.firstBreak));
    const anchored = await call('/v1/verify', { method: 'POST', body: v.text, headers: { 'content-type': 'application/json' } });
    assert.equal(anchored.body.ok, true, anchored.text);
    const forged = JSON.parse(v.text);
    const head = forged.tables.flatMap((x: any) => x.chains).find((c: any) => c.head);
    assert.ok(head, 'the report has a chain head to anchor');
    head.head.hash = 'f'.repeat(64);
    const caught = await call('/v1/verify', { method: 'POST', body: JSON.stringify(forged), headers: { 'content-type': 'application/json' } });
    assert.deepEqual([caught.status, caught.body.ok, caught.body.firstBreak.kind], [200, false, 'rewritten']);
    const junk = await call('/v1/verify', { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(junk.status, 400);
    assert.match(junk.body.error.message, /neither a verification report/);
    const ret = await call('/v1/retention');
    const byTable = Object.fromEntries(ret.body.rows.map((x: any) => [x.table, x]));
    assert.deepEqual([byTable.requests.effective_days, byTable.requests.status], [60, 'ok']);
    assert.deepEqual([byTable.erasure_log.effective_days, byTable.erasure_log.status], [null, 'ok']);
  });
});
