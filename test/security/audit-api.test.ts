/**
 * Hostile input on the audit API, through the app (fastify inject) on a seeded embedded
 * warehouse: the keyed-hash oracles (payload hash, erasure check) refused to the audit role and
 * rate-limited for the admin role; CSV exports whose text cells would run as spreadsheet
 * formulas; forged, tampered and malformed pagination cursors; query fields a route does not
 * take; verification anchors out of range; and a warehouse failure whose engine text must not
 * reach the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { FastifyInstance } from 'fastify';
import { knownRow } from '../../bench/audit/seed.ts';
import { toCsv } from '../../services/audit/format.ts';
import { createAuditApp } from '../../services/audit/server.ts';
import { TOKENS, seeded } from '../audit/helpers.ts';

const [AUDITOR, DPO] = [TOKENS[0]!.token, TOKENS[1]!.token];
const DPO2 = { name: 'dpo-2', token: 'admin-token-2-0123456789abcdef', role: 'admin' as const };
/** What engine or runtime text looks like; none of it may reach a client. */
const ENGINE_TEXT = /DB::|Code: \d|Cannot parse|Exception|UNKNOWN_|\(embedded\)|chdb|\bat .*\.ts:\d/i;

/** Fields of one RFC 4180 CSV text (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) rows.push([...row, field]);
  return rows;
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

test('the audit API under hostile input', async (t) => {
  const s = await seeded(t, 0, { hashLookupsPerMinute: 5 });
  const tokens = [...TOKENS, DPO2];
  const apps: FastifyInstance[] = [];
  const appWith = (now?: () => number) => {
    const app = createAuditApp({ service: s.service, tokens, ...(now ? { now } : {}) });
    apps.push(app);
    return app;
  };
  t.after(() => Promise.all(apps.map((a) => a.close())));
  const app = appWith();
  const call = async (url: string, opts: { token?: string; method?: 'GET' | 'POST'; body?: string; type?: string; on?: FastifyInstance } = {}) => {
    const res = await (opts.on ?? app).inject({
      method: opts.method ?? 'GET', url,
      headers: { authorization: `Bearer ${opts.token ?? AUDITOR}`, ...(opts.type ? { 'content-type': opts.type } : {}) },
      ...(opts.body !== undefined ? { payload: opts.body } : {}),
    });
    let body: any = res.body;
    try { body = JSON.parse(res.body); } catch { /* not JSON */ }
    return { status: res.statusCode, body, text: res.body, headers: res.headers };
  };

  await t.test('the keyed-hash oracles need the admin role: the audit role gets 403 naming it', async () => {
    const hash = await call('/v1/input-hashes', { method: 'POST', body: s.known.payload, type: 'application/json' });
    assert.deepEqual([hash.status, hash.body.error.code, hash.body.error.details], [403, 'MLG_AUD_FORBIDDEN', { role: 'admin' }]);
    assert.match(hash.body.error.message, /needs the admin role; token auditor has the audit role/);
    const check = await call(`/v1/erasures/check?consumer=${s.known.consumer}`);
    assert.deepEqual([check.status, check.body.error.code, check.body.error.details], [403, 'MLG_AUD_FORBIDDEN', { role: 'admin' }]);
    const ok = await call('/v1/input-hashes', { method: 'POST', token: DPO, body: s.known.payload, type: 'application/json' });
    assert.deepEqual([ok.status, ok.body.input_hash], [200, s.known.payloadHash]);
    const checked = await call(`/v1/erasures/check?consumer=${s.known.consumer}`, { token: DPO });
    assert.deepEqual([checked.status, checked.body.ok, checked.body.remaining.requests], [200, false, 240]);
    // Reading by a hash already stored stays an audit read: it tests no guess.
    assert.equal((await call(`/v1/input-hashes/${s.known.payloadHash}/requests`)).status, 200);
  });

  await t.test('the admin role gets a bounded number of keyed-hash lookups per token per minute', async () => {
    let now = 1_000_000;
    const limited = appWith(() => now);
    const hashOnce = (token: string) => call('/v1/input-hashes', { method: 'POST', token, body: 'guess', type: 'text/plain', on: limited });
    for (let i = 0; i < 5; i++) assert.equal((await hashOnce(DPO)).status, 200, `lookup ${i + 1}`);
    const refused = await call('/v1/erasures/check?consumer=guess', { token: DPO, on: limited });
    assert.deepEqual([refused.status, refused.body.error.code, refused.headers['retry-after']], [429, 'MLG_AUD_RATE_LIMITED', '12']);
    assert.equal((await hashOnce(DPO2.token)).status, 200, 'another token has its own budget');
    now += 12_000;
    assert.equal((await hashOnce(DPO)).status, 200, 'one lookup back after 12 s');
    assert.equal((await hashOnce(DPO)).status, 429);
  });

  await t.test('a CSV export neutralises text cells a spreadsheet would run; numbers keep their sign', async () => {
    const hostile: Array<Record<string, unknown>> = [
      { model: '=HYPERLINK("http://x")', version: '+1', route: '-2+3', gateway_id: '@SUM(A1)', prediction_score: -1.5 },
      { model: '\t=1+1', version: '\r=2', route: 'plain', gateway_id: 'gw-1', prediction_score: -2 },
    ];
    const ts = s.end - 60_000;
    await s.wh.insert('requests', hostile.map((h, i) => knownRow({ ...h, event_id: uuidv7(), ts: ts + i, consumer_id: 'csv-hostile', src_offset: 9000 + i })));
    const csv = await call('/v1/requests/export?consumer=csv-hostile&format=csv&from=now-1d');
    assert.equal(csv.status, 200);
    const [header, ...rows] = parseCsv(csv.text);
    const col = (name: string) => rows.map((r) => r[header!.indexOf(name)]);
    assert.equal(rows.length, 2);
    assert.deepEqual(col('model'), ['\'=HYPERLINK("http://x")', '\'\t=1+1']);
    assert.deepEqual(col('version'), ["'+1", "'\r=2"]);
    assert.deepEqual(col('route'), ["'-2+3", 'plain']);
    assert.deepEqual(col('gateway_id'), ["'@SUM(A1)", 'gw-1']);
    assert.deepEqual(col('prediction_score'), ['-1.5', '-2']);
    assert.deepEqual(col('consumer_id'), ['csv-hostile', 'csv-hostile']);
    // JSON lines are data for programs: the values as stored.
    const js = await call('/v1/requests/export?consumer=csv-hostile&format=jsonl&from=now-1d');
    assert.deepEqual(js.text.trim().split('\n').map((l) => JSON.parse(l).model), ['=HYPERLINK("http://x")', '\t=1+1']);
    // The CLI's CSV of any listing (format.ts) follows the same rule.
    assert.equal(toCsv([{ a: '=1', b: -1.5, c: '-2', d: '@x', e: 'ok', f: null }]), "a,b,c,d,e,f\r\n'=1,-1.5,'-2,'@x,ok,\r\n");
  });

  await t.test('forged, tampered and malformed cursors are 400 MLG_AUD_BAD_CURSOR, never engine text', async () => {
    const q = `consumer=${s.known.consumer}&from=now-31d&limit=2`;
    const first = await call(`/v1/requests?${q}`);
    const real = first.body.next_cursor as string;
    const [ts, id, dg] = JSON.parse(Buffer.from(real, 'base64url').toString('utf8')) as [number, string, string];
    assert.equal((await call(`/v1/requests?${q}&cursor=${real}`)).status, 200, 'the real cursor pages on');
    const forged: Record<string, string> = {
      'random base64': randomBytes(48).toString('base64url'),
      'base64 of an object': b64({ ts, id }),
      'base64 of a short list': b64([ts, id]),
      'base64 of text': b64('hello'),
      'base64 of invalid JSON': b64('[1,'),
      'not base64': "'; DROP TABLE requests; --",
      'too long': 'A'.repeat(5000),
      'ts past the range': b64([9_007_199_254_740_991, id, dg]),
      'ts before the range': b64([-1, id, dg]),
      'ts a float': b64([ts + 0.5, id, dg]),
      'ts as text': b64([String(ts), id, dg]),
      'ts huge': b64([1e300, id, dg]),
      'id not a UUID': b64([ts, 'x', dg]),
      'id an SQL fragment': b64([ts, "' OR 1=1 --", dg]),
      'id a UUID with a tail': b64([ts, `${id}'; DROP TABLE requests; --`, dg]),
      'id upper case': b64([ts, id.toUpperCase(), dg]),
      'id a number': b64([ts, 42, dg]),
      'digest of another query': b64([ts, id, 'AAAAAAAAAAAA']),
    };
    for (const [name, cursor] of Object.entries(forged)) {
      const r = await call(`/v1/requests?${q}&cursor=${encodeURIComponent(cursor)}`);
      assert.deepEqual([r.status, r.body.error?.code], [400, 'MLG_AUD_BAD_CURSOR'], `${name}: ${r.text}`);
      assert.doesNotMatch(r.text, ENGINE_TEXT, name);
    }
    // A table with text ids (the erasure log): control characters, over-long ids and times out of range are refused too.
    for (const h of ['a', 'b', 'c']) await s.service.erase({ input_hash: h.repeat(64) }, { actor: 'tester' });
    const range = `from=now-1h&to=${s.now + 60_000}`; // the erasures happened at the service's now
    const log = await call(`/v1/erasures?${range}&limit=1`);
    const [lts, lid, ldg] = JSON.parse(Buffer.from(log.body.next_cursor as string, 'base64url').toString('utf8')) as [number, string, string];
    for (const cursor of [b64([lts, "x\n'; DROP TABLE erasure_log; --", ldg]), b64([lts, 'y'.repeat(201), ldg]), b64([lts, '', ldg]), b64([2e15, lid, ldg])]) {
      const r = await call(`/v1/erasures?${range}&limit=1&cursor=${cursor}`);
      assert.deepEqual([r.status, r.body.error?.code], [400, 'MLG_AUD_BAD_CURSOR'], r.text);
    }
    // Printable text is a valid position in a text-id table: bound as a parameter, it selects rows, never SQL.
    const text = await call(`/v1/erasures?${range}&limit=1&cursor=${b64([lts, "' OR 1=1 --", ldg])}`);
    assert.equal(text.status, 200, text.text);
  });

  await t.test('fields a route does not take and out-of-range verification inputs are 400', async () => {
    for (const url of [`/v1/requests/${s.known.primaryEventId}?debug=1`, `/v1/traces/${s.known.traceId}/requests?limit=9`, '/v1/retention?x=1']) {
      const r = await call(url);
      assert.deepEqual([r.status, r.body.error?.code], [400, 'MLG_AUD_BAD_FILTER'], url);
    }
    const post = await call('/v1/input-hashes?content_type=x', { method: 'POST', token: DPO2.token, body: 'p', type: 'text/plain' });
    assert.deepEqual([post.status, post.body.error?.code], [400, 'MLG_AUD_BAD_FILTER']);
    const allow = await call('/v1/verify?allow_unchained=maybe');
    assert.deepEqual([allow.status, allow.body.error?.details], [400, { field: 'allow_unchained' }]);
    const anchor = { table: 'erasure_log', chain_id: 'audit', seq: '1', hash: 'a'.repeat(64) };
    const many = await call('/v1/verify', { method: 'POST', body: JSON.stringify(Array.from({ length: 1001 }, () => anchor)), type: 'application/json' });
    assert.deepEqual([many.status, many.body.error?.code], [400, 'MLG_AUD_BAD_FILTER']);
    assert.match(many.body.error.message, /at most 1000/);
    for (const bad of [{ seq: '99999999999999999999' }, { chain_id: 'x'.repeat(65) }, { chain_id: "a'b" }]) {
      const r = await call('/v1/verify', { method: 'POST', body: JSON.stringify([{ ...anchor, ...bad }]), type: 'application/json' });
      assert.equal(r.status, 400, JSON.stringify(bad));
    }
  });

  await t.test('a warehouse failure reaches the client as its code and catalogue text, without the engine message', async () => {
    await s.wh.command('DROP TABLE {db}.requests');
    const r = await call(`/v1/requests?consumer=${s.known.consumer}`);
    assert.deepEqual([r.status, r.body.error.code], [500, 'MLG_WH_QUERY_FAILED']);
    assert.equal(r.body.error.message, 'ClickHouse rejected a query (SQL, schema or permissions)');
    assert.equal(r.body.error.details, undefined);
    assert.doesNotMatch(r.text, ENGINE_TEXT);
    assert.doesNotMatch(r.text, new RegExp(s.known.consumer));
  });
});
