// `mlgate audit retention`: every table's effective TTL read back from ClickHouse next to the
// configured retention; a config the migrations have not applied yet shows as a mismatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTtl } from '../../services/audit/retention.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { migrate } from '../../services/warehouse/migrate.ts';
import { chdbPath } from '../support/infra.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';
import { HASHING, cli, jsonl, writeConfig } from './helpers.ts';

test('TTL clauses are read in days whatever their unit', () => {
  assert.deepEqual(parseTtl("MergeTree PARTITION BY toDate(ts) ORDER BY (model, version, ts) TTL toDateTime(ts) + toIntervalDay(30) SETTINGS index_granularity = 8192"),
    { ttl: 'toDateTime(ts) + toIntervalDay(30)', days: 30 });
  assert.deepEqual(parseTtl('MergeTree ORDER BY id TTL minute + toIntervalWeek(2)'), { ttl: 'minute + toIntervalWeek(2)', days: 14 });
  assert.deepEqual(parseTtl('MergeTree ORDER BY id SETTINGS index_granularity = 8192'), { ttl: '', days: null });
});

test('retention shows each table\'s effective TTL against the config, and a mismatch until it is applied', async (t) => {
  const retention = { requests: 45, aggregates: 365, canaryDecisions: 3650, adminChanges: null };
  const wh = await embeddedWarehouse(t, { retention });
  const config = (r: Record<string, unknown>) => writeConfig({
    warehouse: { engine: 'embedded', path: chdbPath(), database: wh.database, retention: r }, telemetry: { hashing: HASHING }, log: { level: 'warn' },
  });
  const ok = await cli(['retention', '--format', 'jsonl', '-c', config(retention)]);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  const rows = Object.fromEntries(jsonl<{ table: string; effective_days: number | null; configured_days: number | null; status: string; source: string }>(ok.stdout).map((r) => [r.table, r]));
  assert.deepEqual([rows.requests!.effective_days, rows.requests!.configured_days, rows.requests!.source], [45, 45, 'warehouse.retention.requests']);
  assert.deepEqual([rows.requests_1m!.effective_days, rows.canary_decisions!.effective_days, rows.admin_changes!.effective_days], [365, 3650, null]);
  assert.deepEqual([rows.erasure_log!.effective_days, rows.erasure_log!.status], [null, 'ok']);
  assert.deepEqual([rows.ingest_ledger!.effective_days, rows.ingest_ledger!.status], [7, 'ok']);
  assert.ok(Object.values(rows).every((r) => r.status === 'ok'));

  const changed = { ...retention, requests: 14 };
  const stale = await cli(['retention', '-c', config(changed)]);
  assert.equal(stale.code, 1);
  assert.match(stale.stdout, /requests\s+toDateTime\(ts\) \+ toIntervalDay\(45\)\s+45\s+14\s+warehouse\.retention\.requests\s+mismatch/);
  await migrate(wh, { retention: WarehouseSection.parse({ retention: changed }).retention }); // what a service start does
  const applied = await cli(['retention', '-c', config(changed)]);
  assert.equal(applied.code, 0, applied.stdout);
  assert.match(applied.stdout, /requests\s+toDateTime\(ts\) \+ toIntervalDay\(14\)\s+14\s+14/);
});

test('the CLI names a missing schema and bad usage without touching the database', async (t) => {
  const wh = await embeddedWarehouse(t, {}, { migrated: false });
  await wh.command('CREATE DATABASE IF NOT EXISTS {db}');
  const cfg = writeConfig({ warehouse: { engine: 'embedded', path: chdbPath(), database: wh.database } });
  const r = await cli(['requests', '-c', cfg]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MLG_AUD_SCHEMA_MISSING: database \S+ lacks requests, canary_decisions, admin_changes, erasure_log: run `mlgate migrate`/);
  assert.equal((await wh.query('SELECT name FROM system.tables WHERE database = {db:String}', { db: wh.database })).length, 0);
  const usage = await cli(['requests', '--bogus', '-c', cfg]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /Unknown option '--bogus'/);
  const fmt = await cli(['requests', '--format', 'xml', '-c', cfg]);
  assert.match(fmt.stderr, /--format must be one of table, jsonl, csv/);
  const hash = await cli(['hash', '-c', cfg], '{"a":1}');
  assert.equal(hash.code, 2);
  assert.match(hash.stderr, /MLG_AUD_NO_HASHER/);
  const badCfg = writeConfig({ audit: { port: 'eighty' } });
  const c = await cli(['retention', '-c', badCfg]);
  assert.match(c.stderr, /MLG_CORE_CONFIG_INVALID: invalid .*audit\.port/);
  const help = await cli(['help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /verify-erasure/);
});
