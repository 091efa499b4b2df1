// The warehouse on the embedded engine (chdb, ClickHouse 26): full schema, migrations, query
// parameters, insert deduplication through the materialized view, the per-path registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chdbPath, uniqueName } from '../support/infra.ts';
import { sampleEvent } from '../support/events.ts';
import { count, embeddedWarehouse } from './support.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { createWarehouse } from '../../services/warehouse/warehouse.ts';
import { migrate, appliedMigrations, migrationContext, renderMigration } from '../../services/warehouse/migrate.ts';
import { allMigrations } from '../../services/warehouse/migrations/index.ts';
import { EVENT_COLUMNS, REQUEST_COLUMNS, requestCompactLine, toRequestRow } from '../../services/warehouse/request-rows.ts';
import { SCHEMA_VERSION, TelemetryEventSchema, type TelemetryEvent } from '../../services/telemetry/event.ts';
import { openEmbeddedPaths } from '../../services/warehouse/embedded.ts';

// Recent times: rows older than the requests retention (30 days) are dropped by the TTL on insert.
const HOUR = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const src = (offset: number) => ({ topic: 't', partition: 0, offset });
const rowsOf = (events: TelemetryEvent[], first = 0) => events.map((e, i) => toRequestRow(e, src(first + i)));

test('migrate creates every table once and records each migration; a rerun changes nothing', async (t) => {
  const wh = await embeddedWarehouse(t, {}, { migrated: false });
  const first = await migrate(wh);
  assert.deepEqual(first.applied, allMigrations().map((m) => `${String(m.id).padStart(4, '0')}_${m.name}`));
  const second = await migrate(wh);
  assert.deepEqual(second.applied, []);
  assert.equal(second.alreadyApplied.length, first.applied.length);
  const tables = (await wh.query<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: wh.database }))
    .map((r) => r.name);
  for (const name of ['requests', 'requests_1m', 'requests_1m_mv', 'canary_decisions', 'admin_changes', 'ingest_ledger', 'schema_migrations']) {
    assert.ok(tables.includes(name), `table ${name} missing from ${tables.join(', ')}`);
  }
  assert.equal(await count(wh, 'SELECT count() FROM {db}.schema_migrations'), first.applied.length);
});

test('a half-applied migration is rerun whole and then recorded', async (t) => {
  const wh = await embeddedWarehouse(t, {}, { migrated: false });
  await wh.command('CREATE DATABASE IF NOT EXISTS {db}');
  // Run the first statement of 0002 by hand (its table exists, the view does not, nothing recorded).
  const m1 = allMigrations().find((m) => m.id === 1)!;
  const m2 = allMigrations().find((m) => m.id === 2)!;
  const ctx = migrationContext(WarehouseSection.parse({}).retention, 1000);
  for (const sql of renderMigration(m1, ctx)) await wh.command(sql);
  await wh.command(renderMigration(m2, ctx)[0]!);
  const r = await migrate(wh);
  assert.ok(r.applied.includes('0002_requests_1m'));
  assert.deepEqual([...(await appliedMigrations(wh))].sort(), allMigrations().map((m) => m.id).sort());
  assert.equal(await count(wh, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'requests_1m_mv'", { db: wh.database }), 1);
});

test('retention from the config becomes the TTL, and a changed retention alters it on the next run', async (t) => {
  const wh = await embeddedWarehouse(t, { retention: { requests: 30 } });
  const ttl = async (name: string) => (await wh.query<{ e: string }>(
    'SELECT engine_full AS e FROM system.tables WHERE database = {db:String} AND name = {name:String}', { db: wh.database, name }))[0]!.e;
  assert.match(await ttl('requests'), /TTL toDateTime\(ts\) \+ toIntervalDay\(30\)/);
  assert.match(await ttl('requests_1m'), /toIntervalDay\(400\)/);
  assert.doesNotMatch(await ttl('canary_decisions'), /TTL/);
  const retention = WarehouseSection.parse({ retention: { requests: 7, canaryDecisions: 3650, aggregates: null } }).retention;
  const r = await migrate(wh, { retention });
  assert.deepEqual(r.retentionChanged.sort(), ['canary_decisions', 'requests', 'requests_1m']);
  assert.match(await ttl('requests'), /toIntervalDay\(7\)/);
  assert.match(await ttl('canary_decisions'), /toIntervalDay\(3650\)/);
  assert.doesNotMatch(await ttl('requests_1m'), /TTL/);
});

test('every field of the event contract is a column of requests and is written by the ingester', async (t) => {
  const wh = await embeddedWarehouse(t);
  const cols = new Set((await wh.query<{ name: string }>(
    "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'requests'", { db: wh.database })).map((r) => r.name));
  for (const field of Object.keys(TelemetryEventSchema.shape)) {
    assert.ok(cols.has(field), `requests lacks column ${field} (add a migration)`);
    assert.ok((EVENT_COLUMNS as readonly string[]).includes(field), `EVENT_COLUMNS lacks ${field} (services/warehouse/request-rows.ts)`);
  }
  for (const meta of ['ingested_at', 'src_topic', 'src_partition', 'src_offset']) assert.ok(cols.has(meta), `requests lacks ${meta}`);
});

test('an event round-trips: nullable numbers stay null, the map and DateTime64 keep their values', async (t) => {
  const wh = await embeddedWarehouse(t);
  const ev = sampleEvent({ ts: HOUR + 123, upstream_latency_ms: null, prediction_score: null, tokens_in: 12, redactions: { EMAIL: 2, PHONE: 1 } });
  await wh.insert('requests', rowsOf([ev]));
  const [row] = await wh.query<Record<string, unknown>>(
    'SELECT toString(event_id) AS id, toUnixTimestamp64Milli(ts) AS ms, upstream_latency_ms, prediction_score, tokens_in, redactions FROM {db}.requests WHERE event_id = {id:UUID}',
    { id: ev.event_id });
  assert.ok(row, 'row not found by event_id');
  assert.equal(row.id, ev.event_id);
  assert.equal(Number(row.ms), HOUR + 123);
  assert.equal(row.upstream_latency_ms, null);
  assert.equal(row.prediction_score, null);
  assert.equal(row.tokens_in, 12);
  assert.deepEqual(row.redactions, { EMAIL: 2, PHONE: 1 });
});

test('a repeated insert with the same dedup token is stored once in requests and counted once in requests_1m', async (t) => {
  const wh = await embeddedWarehouse(t);
  const events = Array.from({ length: 200 }, (_, i) => sampleEvent({
    outcome: i % 10 === 0 ? 'timeout' : 'ok', ts: HOUR + (i % 3) * 60_000, prediction_score: i % 2 ? i / 200 : null,
  }));
  const rows = rowsOf(events);
  await wh.insert('requests', rows, { dedupToken: 't:0:0-199' });
  await wh.insert('requests', rows, { dedupToken: 't:0:0-199' });
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 200);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 200);
  assert.equal(await count(wh, 'SELECT sum(errors) FROM {db}.requests_1m'), 20);
  // A different token is a different batch: stored again (the token, not the content, decides).
  await wh.insert('requests', rows.slice(0, 10), { dedupToken: 't:0:0-9' });
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 210);
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 210);
  // A token does not linger into the next insert (statement-local settings on the embedded engine).
  await wh.insert('requests', rowsOf([sampleEvent()], 500));
  await wh.insert('requests', rowsOf([sampleEvent()], 501));
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 212);
});

test('requests_1m agrees with the raw table (the documented -Merge query)', async (t) => {
  const wh = await embeddedWarehouse(t);
  const events = Array.from({ length: 500 }, (_, i) => sampleEvent({
    version: i % 5 === 0 ? 'v2' : 'v1', role: i % 5 === 0 ? 'canary' : 'stable', rollout_id: 'r1',
    ts: HOUR + (i % 4) * 60_000 + 7000, latency_ms: (i % 100) + 0.5, outcome: i % 25 === 0 ? 'upstream_error' : 'ok',
    status: i % 25 === 0 ? 502 : 200, prediction_score: (i % 10) / 10, tokens_in: i % 3 ? 5 : null,
  }));
  await wh.insert('requests', rowsOf(events));
  const agg = await wh.query<Record<string, number | string>>(`
    SELECT version, sum(requests) AS n_requests, sum(errors) AS n_errors, sum(status_5xx) AS s5,
           round(sum(latency_sum) / sum(requests), 3) AS mean_latency, sum(tokens_in) AS n_tokens_in,
           sum(score_count) AS n, round(sum(score_sum) / sum(score_count), 6) AS mean_score,
           min(score_min) AS smin, max(score_max) AS smax,
           round(quantileTDigestMerge(0.5)(latency_q)) AS p50
    FROM {db}.requests_1m
    WHERE model = {model:String} AND minute >= {from:DateTime} AND minute < {to:DateTime}
    GROUP BY version ORDER BY version`, { model: 'm', from: HOUR / 1000, to: HOUR / 1000 + 3600 });
  const raw = await wh.query<Record<string, number | string>>(`
    SELECT version, count() AS n_requests, countIf(outcome = 'upstream_error') AS n_errors, countIf(status >= 500) AS s5,
           round(avg(latency_ms), 3) AS mean_latency, sum(ifNull(tokens_in, 0)) AS n_tokens_in,
           count(prediction_score) AS n, round(avg(prediction_score), 6) AS mean_score,
           min(prediction_score) AS smin, max(prediction_score) AS smax, round(quantileExact(0.5)(latency_ms)) AS p50
    FROM {db}.requests WHERE model = {model:String} GROUP BY version ORDER BY version`, { model: 'm' });
  assert.equal(agg.length, 2);
  for (const [i, a] of agg.entries()) {
    const r = raw[i]!;
    for (const k of ['version', 'n_requests', 'n_errors', 's5', 'mean_latency', 'n_tokens_in', 'n', 'mean_score', 'smin', 'smax']) {
      assert.equal(String(a[k]), String(r[k]), `${k} for ${a.version}`);
    }
    assert.ok(Math.abs(Number(a.p50) - Number(r.p50)) <= 5, `t-digest p50 (an approximation) ${a.p50} far from exact ${r.p50}`);
  }
});

test('token timing: the four columns round-trip (absent fields are NULL) and requests_1m rolls them up per minute', async (t) => {
  const wh = await embeddedWarehouse(t);
  // 40 streams of v1 and v2 over 2 minutes (v2's ttft twice v1's), and plain requests without timing.
  const streams = Array.from({ length: 40 }, (_, i) => sampleEvent({
    version: i % 2 ? 'v2' : 'v1', ts: HOUR + (i % 2 ? 0 : 60_000) + i,
    ttft_ms: (i % 2 ? 200 : 100) + i, itl_mean_ms: 20 + (i % 5), itl_p95_ms: 30 + (i % 7), output_tps: i % 4 === 0 ? null : 50 - (i % 3),
  }));
  const plain = Array.from({ length: 10 }, (_, i) => sampleEvent({ version: i % 2 ? 'v2' : 'v1', ts: HOUR + i }));
  await wh.insert('requests', rowsOf([...streams, ...plain]));
  // The ingester's compact rows too, for an event that never had the fields (an older producer).
  const old = sampleEvent({ ts: HOUR + 1 });
  await wh.insertJsonLines('requests', Buffer.from(requestCompactLine(old, src(999))), { format: 'JSONCompactEachRow', columns: REQUEST_COLUMNS });
  const [o] = await wh.query<Record<string, unknown>>('SELECT ttft_ms, itl_mean_ms, itl_p95_ms, output_tps FROM {db}.requests WHERE event_id = {id:UUID}', { id: old.event_id });
  assert.deepEqual(o, { ttft_ms: null, itl_mean_ms: null, itl_p95_ms: null, output_tps: null });
  const [s0] = await wh.query<Record<string, unknown>>('SELECT ttft_ms, itl_mean_ms, itl_p95_ms, output_tps FROM {db}.requests WHERE event_id = {id:UUID}', { id: streams[1]!.event_id });
  assert.deepEqual(s0, { ttft_ms: 201, itl_mean_ms: 21, itl_p95_ms: 31, output_tps: 49 });

  const agg = await wh.query<Record<string, number | string>>(`
    SELECT version, sum(ttft_count) AS n_ttft, round(sum(ttft_sum) / sum(ttft_count), 3) AS mean_ttft,
           round(quantileTDigestMerge(0.5)(ttft_q)) AS p50_ttft, sum(itl_count) AS n_itl, round(sum(itl_sum) / sum(itl_count), 3) AS mean_itl,
           round(quantileTDigestMerge(0.5)(itl_p95_q)) AS p50_itl_p95, sum(output_tps_count) AS n_tps, round(sum(output_tps_sum) / sum(output_tps_count), 3) AS mean_tps,
           round(quantileTDigestMerge(0.5)(output_tps_q)) AS p50_tps, sum(requests) AS n_requests
    FROM {db}.requests_1m WHERE model = 'm' GROUP BY version ORDER BY version`);
  const raw = await wh.query<Record<string, number | string>>(`
    SELECT version, count(ttft_ms) AS n_ttft, round(avg(ttft_ms), 3) AS mean_ttft, round(quantileExact(0.5)(ttft_ms)) AS p50_ttft,
           count(itl_mean_ms) AS n_itl, round(avg(itl_mean_ms), 3) AS mean_itl, round(quantileExact(0.5)(itl_p95_ms)) AS p50_itl_p95,
           count(output_tps) AS n_tps, round(avg(output_tps), 3) AS mean_tps, round(quantileExact(0.5)(output_tps)) AS p50_tps, count() AS n_requests
    FROM {db}.requests WHERE model = 'm' GROUP BY version ORDER BY version`);
  assert.equal(agg.length, 2);
  for (const [i, a] of agg.entries()) {
    const r = raw[i]!;
    for (const k of ['version', 'n_ttft', 'mean_ttft', 'n_itl', 'mean_itl', 'n_tps', 'mean_tps', 'n_requests']) assert.equal(String(a[k]), String(r[k]), `${k} for ${a.version}`);
    for (const k of ['p50_ttft', 'p50_itl_p95', 'p50_tps']) assert.ok(Math.abs(Number(a[k]) - Number(r[k])) <= 5, `t-digest ${k} ${a[k]} far from exact ${r[k]}`);
  }
  assert.equal(Number(agg[0]!.n_ttft), 20, 'only the streams have a ttft');
  assert.ok(Number(agg[1]!.mean_ttft) > 1.5 * Number(agg[0]!.mean_ttft), 'v2 streams are slower to their first token');
});

test('token timing: upgrading a database with rows to migration 7 keeps its aggregates and rolls up the new rows', async (t) => {
  const wh = await embeddedWarehouse(t, {}, { migrated: false });
  await migrate(wh, { migrations: allMigrations().filter((m) => m.id < 7 || m.id > 9) }); // a database of the release before
  // Rows written by an ingester before the upgrade: the old column list.
  const before = Array.from({ length: 30 }, (_, i) => sampleEvent({ ts: HOUR + i }));
  const oldColumns = REQUEST_COLUMNS.filter((c) => !['ttft_ms', 'itl_mean_ms', 'itl_p95_ms', 'output_tps', 'cost_usd', 'tokens_estimated'].includes(c));
  const line = (e: TelemetryEvent, i: number) => JSON.stringify(oldColumns.map((c) => (c.startsWith('src_') ? { src_topic: 't', src_partition: 0, src_offset: i }[c] : (e as Record<string, unknown>)[c])));
  await wh.insertJsonLines('requests', Buffer.from(before.map(line).join('\n')), { format: 'JSONCompactEachRow', columns: oldColumns });
  const r = await migrate(wh);
  assert.deepEqual(r.applied, ['0007_requests_token_timing', '0008_requests_cost', '0009_requests_tokens_estimated']);
  await wh.insert('requests', rowsOf(Array.from({ length: 10 }, (_, i) => sampleEvent({ ts: HOUR + 100 + i, ttft_ms: 100 + i, output_tps: 40, cost_usd: i / 1000, tokens_estimated: i % 2 === 0 })), 100));
  const [agg] = await wh.query<Record<string, number>>(
    'SELECT sum(requests) AS n, sum(ttft_count) AS n_ttft, sum(ttft_sum) AS s_ttft, round(quantileTDigestMerge(0.5)(ttft_q)) AS p50, sum(output_tps_count) AS n_tps FROM {db}.requests_1m');
  const { p50, ...sums } = agg!;
  assert.deepEqual(sums, { n: 40, n_ttft: 10, s_ttft: 1045, n_tps: 10 }, 'the old rows still counted, the new ones rolled up');
  assert.ok(p50! >= 103 && p50! <= 106, `t-digest p50 ${p50} of 100..109`);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE ttft_ms IS NULL'), 30, 'the old rows read NULL');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE cost_usd IS NULL'), 30, 'the old rows have no cost');
  const [cost] = await wh.query<{ s: number }>('SELECT round(sum(cost_usd), 6) AS s FROM {db}.requests');
  assert.equal(Number(cost!.s), 0.045, 'the new rows keep their cost (0 + 0.001 + ... + 0.009)');
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE tokens_estimated'), 5, 'old rows read false, the new rows keep their mark');
});

test('query parameters carry values, identifiers are checked, streams export CSV', async (t) => {
  const wh = await embeddedWarehouse(t);
  await wh.insert('requests', rowsOf([sampleEvent({ consumer_id: "o'brien" }), sampleEvent({ consumer_id: 'x' })]));
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests WHERE consumer_id = {c:String}', { c: "o'brien" }), 1);
  assert.throws(() => wh.table('requests; DROP TABLE x'), (e: Error & { code?: string }) => e.code === 'MLG_WH_BAD_IDENTIFIER');
  assert.equal(wh.table('requests'), `${wh.database}.requests`);
  const stream = await wh.stream('SELECT consumer_id FROM {db}.requests ORDER BY consumer_id', {}, { format: 'CSV' });
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  assert.equal(text, '"o\'brien"\n"x"\n');
});

test('ClickHouse errors map to catalogue codes', async (t) => {
  const wh = await embeddedWarehouse(t);
  await assert.rejects(wh.query('SELECT nope FROM {db}.requests'), (e: Error & { code?: string }) => e.code === 'MLG_WH_QUERY_FAILED');
  await assert.rejects(wh.insert('requests', [{ ts: 'not a time', event_id: 'zzz' }]), (e: Error & { code?: string }) => e.code === 'MLG_WH_DATA_REJECTED');
  await assert.rejects(wh.insert('requests', [{}], { dedupToken: "bad'token" }), (e: Error & { code?: string }) => e.code === 'MLG_WH_QUERY_FAILED');
});

test('two warehouses on one path share the engine; closing one leaves the other working; a second path is refused', async (t) => {
  const a = await embeddedWarehouse(t);
  const cfg = WarehouseSection.parse({ engine: 'embedded', path: chdbPath(), database: a.database });
  const b = await createWarehouse(cfg);
  const before = openEmbeddedPaths().find((p) => p.path === chdbPath())!.refs;
  const c = await createWarehouse(cfg);
  assert.equal(openEmbeddedPaths().find((p) => p.path === chdbPath())!.refs, before + 1);
  await c.close();
  await c.close(); // idempotent: must not drop the other holders' reference
  await b.insert('requests', rowsOf([sampleEvent()]));
  await b.close();
  assert.equal(await count(a, 'SELECT count() FROM {db}.requests'), 1);
  const other = mkdtempSync(join(tmpdir(), 'mlgate-other-'));
  await assert.rejects(createWarehouse(WarehouseSection.parse({ path: other, database: uniqueName('x') })),
    (e: Error & { code?: string }) => e.code === 'MLG_WH_ENGINE_PATH_CONFLICT' && e.message.includes(other));
});

/**
 * An event with a distinct, non-empty value in every field: a column written under another's
 * name (a mistake in the compact column order, or in the row mapping) shows as a wrong value. A
 * field added to the contract later gets `<name>-x` until it is given a value here.
 */
function distinctEvent(): TelemetryEvent {
  const ev: Record<string, unknown> = {
    event_id: sampleEvent().event_id, ts: HOUR + 5, gateway_id: 'gw-7', route: '/v1/models/{model}/predict', model: 'm-3', version: 'v-9',
    role: 'canary', rollout_id: 'r-11', consumer_id: 'c-13', method: 'PUT', status: 429, outcome: 'rate_limited', error_class: 'RateLimit',
    latency_ms: 17.25, upstream_latency_ms: 19.5, ttfb_ms: 23.75, request_bytes: 29, response_bytes: 31,
    input_hash: '1'.repeat(64), output_hash: '2'.repeat(64), hash_key_id: 'k-37', input_redacted: '{"q":"<EMAIL>"}',
    redactions: { PHONE: 41 }, prediction_label: 'label-43', prediction_score: 0.375, tokens_in: 53, tokens_out: 59,
    correlation_id: 'corr-61', trace_id: '3'.repeat(32), span_id: '4'.repeat(16), cache: 'hit',
    ttft_ms: 67.5, itl_mean_ms: 71.25, itl_p95_ms: 73.5, output_tps: 79.75, cost_usd: 0.0000083, tokens_estimated: true,
  };
  for (const k of Object.keys(TelemetryEventSchema.shape)) if (!(k in ev) && k !== 'schema_version') ev[k] = `${k}-x`;
  ev.schema_version = SCHEMA_VERSION;
  const parsed = TelemetryEventSchema.parse(ev) as Record<string, unknown>;
  const values = Object.entries(parsed).filter(([k]) => k !== 'schema_version').map(([, v]) => JSON.stringify(v));
  assert.equal(new Set(values).size, values.length, 'every field has its own value');
  return parsed as TelemetryEvent;
}

test('compact rows (the ingester\'s format) and object rows store every field in its own column', async (t) => {
  const wh = await embeddedWarehouse(t);
  const a = distinctEvent();
  const b = { ...a, event_id: sampleEvent().event_id };
  await wh.insert('requests', rowsOf([a]));
  await wh.insertJsonLines('requests', Buffer.from(requestCompactLine({ ...b }, src(0))), { format: 'JSONCompactEachRow', columns: REQUEST_COLUMNS });
  const rows = await wh.query<Record<string, unknown>>(
    'SELECT toString(event_id) AS id, toUnixTimestamp64Milli(ts) AS ms, * FROM {db}.requests ORDER BY id = {id:String}',
    { id: b.event_id });
  assert.equal(rows.length, 2);
  for (const [row, ev, how] of [[rows[0]!, a, 'object row'], [rows[1]!, b, 'compact row']] as const) {
    for (const col of EVENT_COLUMNS) {
      const want = (ev as Record<string, unknown>)[col];
      const got = col === 'event_id' ? row.id : col === 'ts' ? row.ms : row[col];
      if (typeof want === 'object' && want !== null) assert.deepEqual(got, want, `${how}: column ${col}`);
      else assert.equal(String(got), String(want), `${how}: column ${col}`);
    }
  }
  await assert.rejects(wh.insertJsonLines('requests', Buffer.from('[1]'), { format: 'JSONCompactEachRow' }), /column list/);
});
