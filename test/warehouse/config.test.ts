// Pure checks of the warehouse's configuration, error mapping, migration registry and pins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { loadConfig } from '../../services/core/config.ts';
import { MlgateError } from '../../services/core/errors.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { IngesterSection } from '../../services/ingester/config.ts';
import { embeddedPath, parseVersion } from '../../services/warehouse/warehouse.ts';
import { mapClickHouseError, clickHouseCode } from '../../services/warehouse/errors.ts';
import { identifier, withDatabase } from '../../services/warehouse/identifiers.ts';
import { allMigrations, registerMigration, validateRegistry } from '../../services/warehouse/migrations/index.ts';
import { currentTtlDays, migrationContext, renderMigration } from '../../services/warehouse/migrate.ts';

const Schema = z.object({ warehouse: WarehouseSection.prefault({}), ingester: IngesterSection.prefault({}) });

test('engine defaults to embedded, and to server once a url is set (CLICKHOUSE_URL)', () => {
  assert.equal(loadConfig(Schema, undefined, {}).warehouse.engine, 'embedded');
  const cfg = loadConfig(Schema, undefined, { CLICKHOUSE_URL: 'http://127.0.0.1:8123', CLICKHOUSE_USER: 'u', CLICKHOUSE_DATABASE: 'obs' });
  assert.equal(cfg.warehouse.engine, 'server');
  assert.equal(cfg.warehouse.username, 'u');
  assert.equal(cfg.warehouse.database, 'obs');
  // An explicit engine wins over the url.
  assert.equal(loadConfig(Schema, undefined, { CLICKHOUSE_URL: 'http://h:1', MLGATE_CFG__warehouse__engine: 'embedded' }).warehouse.engine, 'embedded');
});

test('invalid warehouse settings name the field', () => {
  assert.throws(() => loadConfig(Schema, undefined, { MLGATE_CFG__warehouse__engine: 'server' }), /warehouse\.url: engine "server" needs a url/);
  assert.throws(() => loadConfig(Schema, undefined, { CLICKHOUSE_DATABASE: 'my-db' }), /warehouse\.database: expected a plain identifier/);
  assert.throws(() => loadConfig(Schema, undefined, { MLGATE_CFG__warehouse__retention__requests: '0' }), /warehouse\.retention\.requests/);
  assert.throws(() => loadConfig(Schema, undefined, { CLICKHOUSE_URL: 'ftp://x' }), /warehouse\.url/);
  assert.throws(() => loadConfig(Schema, undefined, { MLGATE_CFG__ingester__topic: 'bad topic' }), /ingester\.topic/);
});

test('retention defaults: 30 days raw, 400 days aggregates, decisions and admin changes kept', () => {
  const { retention } = WarehouseSection.parse({});
  assert.deepEqual(retention, { requests: 30, aggregates: 400, canaryDecisions: null, adminChanges: null });
  const ctx = migrationContext(retention, 500);
  assert.equal(ctx.ttl('requests', 'toDateTime(ts)'), 'TTL toDateTime(ts) + INTERVAL 30 DAY');
  assert.equal(ctx.ttl('adminChanges', 'toDateTime(ts)'), '');
  assert.match(renderMigration(allMigrations()[0]!, ctx)[0]!, /non_replicated_deduplication_window = 500/);
});

test('embedded path resolves against dataDir unless absolute', () => {
  assert.equal(embeddedPath({ path: undefined }, '/var/mlgate'), '/var/mlgate/clickhouse');
  assert.equal(embeddedPath({ path: 'ch' }, '/var/mlgate'), '/var/mlgate/ch');
  assert.equal(embeddedPath({ path: '/abs/ch' }, '/var/mlgate'), '/abs/ch');
  assert.deepEqual(parseVersion('26.7.2.1'), [26, 7]);
  assert.deepEqual(parseVersion('18.16.1'), [18, 16]);
});

test('identifiers: only plain names reach SQL text', () => {
  assert.equal(identifier('mlgate_1'), 'mlgate_1');
  for (const bad of ['1db', 'a-b', 'a.b', 'x; DROP', '', '`x`']) {
    assert.throws(() => identifier(bad), (e: MlgateError) => e.code === 'MLG_WH_BAD_IDENTIFIER');
  }
  assert.equal(withDatabase('SELECT * FROM {db}.t WHERE x = {x:String}', 'd'), 'SELECT * FROM d.t WHERE x = {x:String}');
});

test('errors from both engines and the network map to catalogue codes', () => {
  const old = new Error('Code: 193, e.displayText() = DB::Exception: Wrong password for user mlgate, e.what() = DB::Exception');
  assert.equal(clickHouseCode(old), 193);
  assert.equal(mapClickHouseError(old, 'q').code, 'MLG_WH_AUTH_FAILED');
  const modern = Object.assign(new Error('Code: 60. DB::Exception: Table x.y does not exist. (UNKNOWN_TABLE)'), { code: '60' });
  assert.equal(mapClickHouseError(modern, 'q').code, 'MLG_WH_QUERY_FAILED');
  assert.equal(mapClickHouseError(Object.assign(new Error('x'), { code: '241' }), 'q').code, 'MLG_WH_UNAVAILABLE');
  assert.equal(mapClickHouseError(Object.assign(new Error('Cannot parse'), { code: '27' }), 'q').code, 'MLG_WH_DATA_REJECTED');
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const mapped = mapClickHouseError(refused, 'insert into d.t');
  assert.equal(mapped.code, 'MLG_WH_UNAVAILABLE');
  assert.equal(mapped.cause, refused);
  assert.match(mapped.message, /^insert into d\.t: /);
  assert.equal(mapClickHouseError(new Error('Timeout error.'), 'q').code, 'MLG_WH_UNAVAILABLE');
});

test('migration registry: ids unique and ascending; a taken id is refused', () => {
  validateRegistry();
  const ids = allMigrations().map((m) => m.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  assert.throws(() => registerMigration({ id: 1, name: 'again', description: 'x', up: [] }), (e: MlgateError) => e.code === 'MLG_WH_MIGRATION_INVALID');
  assert.throws(() => registerMigration({ id: 900, name: 'Bad Name', description: 'x', up: [] }), /lower_snake_case/);
  for (const m of allMigrations()) {
    for (const sql of renderMigration(m, migrationContext(WarehouseSection.parse({}).retention, 100))) {
      assert.match(sql, /IF NOT EXISTS|IF EXISTS/, `migration ${m.id} has a statement that is not rerunnable`);
      // A view's query replaced in place broke exactly-once of requests_1m (docs/warehouse.md).
      assert.doesNotMatch(sql, /MODIFY QUERY/, `migration ${m.id} replaces a view's query`);
      assert.doesNotMatch(sql, /mlgate\./, `migration ${m.id} names a database instead of {db}`);
    }
  }
});

test('current TTL is read back from engine_full', () => {
  assert.equal(currentTtlDays('MergeTree PARTITION BY toDate(ts) ORDER BY (model, version, ts) TTL toDateTime(ts) + toIntervalDay(30) SETTINGS index_granularity = 8192'), 30);
  assert.equal(currentTtlDays('MergeTree ORDER BY ts SETTINGS index_granularity = 8192'), null);
});

test('@clickhouse/client and chdb are pinned, and the installed versions are the pinned ones', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of ['@clickhouse/client', 'chdb', 'kafkajs']) {
    const want = pkg.dependencies[name];
    assert.match(want ?? '', /^\d+\.\d+\.\d+$/, `${name} must be pinned to an exact version`);
    const installed = JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string };
    assert.equal(installed.version, want, `${name} installed ${installed.version}, pinned ${want}`);
  }
});
