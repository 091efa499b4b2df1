// Cluster mode of the migrations (warehouse.cluster): the single-server statements are unchanged
// byte for byte (against a snapshot taken before cluster mode existed), and every cluster-mode
// statement parses on the embedded engine (EXPLAIN AST) with ON CLUSTER, Replicated* engines and
// replicated deduplication, checked on ClickHouse's own formatting of it (formatQuery). No
// statement is executed in cluster mode: the embedded engine has no cluster and no Keeper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { loadConfig } from '../../services/core/config.ts';
import { ClusterSection, DEFAULT_ZK_PATH, RetentionSection, WarehouseSection } from '../../services/warehouse/config.ts';
import { withDatabase } from '../../services/warehouse/identifiers.ts';
import { DISTRIBUTED_TABLES, RETENTION_TARGETS, SYNCED_TABLES, dropDistributedStatement, migrationContext, renderPlan, retentionStatement, type MigrationPlan } from '../../services/warehouse/migrate.ts';
import { printPlan } from '../../services/cli/commands/migrate.ts';
import { embeddedWarehouse } from './support.ts';

const Schema = z.object({ warehouse: WarehouseSection.prefault({}) });
const SNAPSHOT = JSON.parse(readFileSync(new URL('./fixtures/single-node-migrations.json', import.meta.url), 'utf8')) as Record<string, string[]>;
const CASES = {
  defaults: WarehouseSection.parse({}),
  'no-ttl': WarehouseSection.parse({ dedupWindow: 500, retention: { requests: null, aggregates: null, canaryDecisions: 7, adminChanges: 3650 } }),
};
const everyStatement = (p: MigrationPlan) => [...p.setup, ...p.migrations.flatMap((m) => m.statements), ...p.distributed, ...p.sync];

test('without warehouse.cluster every statement is byte-for-byte what the runner rendered before cluster mode', () => {
  const seen = new Set<string>();
  for (const [name, cfg] of Object.entries(CASES)) {
    const plan = renderPlan({ retention: cfg.retention, dedupWindow: cfg.dedupWindow, cluster: cfg.cluster });
    assert.deepEqual(plan.setup, [...SNAPSHOT['runner/database']!, ...SNAPSHOT['runner/schema_migrations']!]);
    assert.deepEqual(plan.distributed, []);
    assert.deepEqual(plan.sync, []);
    for (const m of plan.migrations) {
      const key = `${name}/${m.label}`;
      assert.ok(SNAPSHOT[key], `no snapshot for ${key} (a new migration: add it to the fixture)`);
      assert.deepEqual(m.statements, SNAPSHOT[key], key);
      seen.add(key);
    }
  }
  assert.deepEqual([...seen].sort(), Object.keys(SNAPSHOT).filter((k) => !k.startsWith('runner/')).sort(), 'every snapshot entry was compared');
  const target = (t: string) => RETENTION_TARGETS.find((x) => x.table === t)!;
  assert.deepEqual(
    [retentionStatement('{db}.requests', target('requests'), null), retentionStatement('{db}.requests', target('requests'), 30), retentionStatement('{db}.requests_1m', target('requests_1m'), 400)],
    SNAPSHOT['runner/retention'],
  );
});

test('warehouse.cluster: defaults, and invalid values name the field', () => {
  const on = loadConfig(Schema, undefined, { CLICKHOUSE_URL: 'http://ch:8123', MLGATE_CFG__warehouse__cluster: '{"name":"prod"}' }).warehouse;
  assert.deepEqual(on.cluster, { name: 'prod', replicated: true, zkPath: DEFAULT_ZK_PATH, replica: '{replica}', dedupWindowSeconds: 604_800, distributed: false });
  assert.equal(DEFAULT_ZK_PATH, '/clickhouse/tables/{shard}/{database}/{table}');
  assert.equal(loadConfig(Schema, undefined, {}).warehouse.cluster, undefined);
  const bad = (cluster: unknown, pattern: RegExp, extra: Record<string, string> = { CLICKHOUSE_URL: 'http://ch:8123' }) =>
    assert.throws(() => loadConfig(Schema, undefined, { ...extra, MLGATE_CFG__warehouse__cluster: JSON.stringify(cluster) }), pattern);
  bad({ name: 'my-cluster' }, /warehouse\.cluster\.name: expected a plain identifier/);
  bad({}, /warehouse\.cluster\.name/);
  bad({ name: 'c', zkPath: '/clickhouse/tables/{shard}/x' }, /warehouse\.cluster\.zkPath: zkPath must contain the \{table\} macro/);
  bad({ name: 'c', zkPath: 'clickhouse/{table}' }, /warehouse\.cluster\.zkPath: zkPath must start with \//);
  bad({ name: 'c', replica: "r1', 'x" }, /warehouse\.cluster\.replica: replica must be printable ASCII without quotes or backslashes/);
  bad({ name: 'c', replica: 'r\n1' }, /warehouse\.cluster\.replica: replica must be printable ASCII/);
  bad({ name: 'c', shards: 2 }, /warehouse\.cluster: .*shards/);
  bad({ name: 'c', dedupWindowSeconds: 60 }, /warehouse\.cluster\.dedupWindowSeconds/);
  bad({ name: 'c', distributed: 'yes' }, /warehouse\.cluster\.distributed/);
  bad({ name: 'c' }, /warehouse\.cluster: cluster mode needs engine "server"/, {});
});

test('cluster mode without replication: ON CLUSTER on every statement, engines and deduplication as on one server', () => {
  const cluster = ClusterSection.parse({ name: 'shards', replicated: false });
  const single = everyStatement(renderPlan({}));
  const sharded = everyStatement(renderPlan({ cluster }));
  assert.equal(sharded.length, single.length);
  for (const [i, sql] of sharded.entries()) {
    assert.match(sql, /^(CREATE|ALTER) [A-Z ]+?\{db\}(\.\w+)? ON CLUSTER shards\b/, sql.slice(0, 80));
    assert.equal(sql.replace(' ON CLUSTER shards', ''), single[i], 'only ON CLUSTER differs');
  }
});

/** `ENGINE = Name(args)` clauses of ClickHouse-formatted SQL. */
function engines(formatted: string): Array<{ name: string; args: string }> {
  return [...formatted.matchAll(/ENGINE = (\w+)(?:\(([^)]*)\))?/g)].map((m) => ({ name: m[1]!, args: m[2] ?? '' }));
}

test('cluster mode: every statement parses on the embedded engine (EXPLAIN AST) and is ON CLUSTER, Replicated and replicated-deduplicated', async (t) => {
  const wh = await embeddedWarehouse(t, {}, { migrated: false });
  const db = wh.database;
  const cluster = ClusterSection.parse({ name: 'prod', distributed: true });
  const plan = renderPlan({ dedupWindow: 4321, cluster: { ...cluster, dedupWindowSeconds: 86_400 } });
  const single = renderPlan({ dedupWindow: 4321 });
  const retention = RETENTION_TARGETS.flatMap((r) => [retentionStatement(`{db}.${r.table}`, r, 9, cluster), retentionStatement(`{db}.${r.table}`, r, null, cluster)]);
  const drops = DISTRIBUTED_TABLES.map((table) => dropDistributedStatement(migrationContext(RetentionSection.parse({}), 4321, cluster), table));
  const statements = [...everyStatement(plan), ...retention, ...drops];
  assert.ok(plan.distributed.length === 2, 'requests_all and requests_1m_all');

  const replicatedTables = new Set<string>();
  const syncedTables: string[] = [];
  for (const sql of statements) {
    // One row per line of the tree (the engine returns a lone column as plain strings or as { explain }).
    const ast = (await wh.query<{ explain: string } | string>(`EXPLAIN AST ${sql}`)).map((r) => (typeof r === 'string' ? r : r.explain));
    assert.match(ast.join('\n'), /^(CreateQuery|AlterQuery|DropQuery|SYSTEM query) /, `EXPLAIN AST parsed: ${sql.slice(0, 80)} → ${JSON.stringify(ast).slice(0, 200)}`);
    const [row] = await wh.query<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: withDatabase(sql, db) });
    const f = row!.f;
    if (f.startsWith('SYSTEM')) {
      // Local on purpose: each service waits for its own replica.
      const synced = new RegExp(`^SYSTEM SYNC REPLICA ${db}\\.(\\w+)$`).exec(f);
      assert.ok(synced, f);
      syncedTables.push(synced[1]!);
      continue;
    }
    const head = new RegExp(`^(CREATE (TABLE|DATABASE|MATERIALIZED VIEW)|ALTER TABLE|DROP TABLE) (IF NOT EXISTS |IF EXISTS )?${db}(\\.(\\w+))? ON CLUSTER prod\\b`);
    const m = head.exec(f);
    assert.ok(m, `ON CLUSTER prod right after the name: ${f.slice(0, 120)}`);
    assert.doesNotMatch(f, /non_replicated_deduplication_window/);
    for (const e of engines(f)) {
      if (e.name === 'Distributed') {
        assert.match(f, new RegExp(`^CREATE TABLE IF NOT EXISTS ${db}\\.(\\w+)_all ON CLUSTER prod AS ${db}\\.\\1\\s+ENGINE = Distributed\\(prod, ${db}, \\1\\)$`), f);
        continue;
      }
      assert.match(e.name, /^Replicated\w*MergeTree$/, `replicated engine in ${f.slice(0, 80)}`);
      assert.ok(e.args.startsWith(`'${DEFAULT_ZK_PATH}', '{replica}'`), `zk path and replica first: ${e.name}(${e.args})`);
      replicatedTables.add(m[5]!);
      if (e.name === 'ReplicatedReplacingMergeTree') assert.equal(e.args, `'${DEFAULT_ZK_PATH}', '{replica}', seq`, 'keeps its own version column');
    }
    if (/^CREATE MATERIALIZED VIEW/.test(f)) {
      assert.match(f, new RegExp(`ON CLUSTER prod TO ${db}\\.requests_1m\\b`), 'the view writes its local (replicated) target');
      assert.match(f, new RegExp(`FROM ${db}\\.requests\\n`), 'and reads the local insert, not a Distributed table');
    }
  }
  const created = single.migrations.flatMap((x) => x.statements).flatMap((s) => /^CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)/.exec(s)?.[1] ?? []);
  assert.deepEqual([...replicatedTables].sort(), ['schema_migrations', ...created].sort(), 'every table, the bookkeeping one too, is replicated');
  assert.deepEqual(syncedTables, [...SYNCED_TABLES]);
  for (const table of ['requests', 'ingest_ledger', 'ingest_claims', 'canary_decisions', 'admin_changes', 'erasure_log', 'controller_rollouts']) {
    assert.ok(syncedTables.includes(table), `${table} is read back after a restart or takeover, so its replica is synced first`);
  }

  // Every table that had a non-replicated window has the replicated one, same size.
  for (const [i, m] of single.migrations.entries()) {
    for (const [j, sql] of m.statements.entries()) {
      const want = sql.includes('non_replicated_deduplication_window = 4321');
      const replicated = plan.migrations[i]!.statements[j]!;
      assert.equal(replicated.includes('replicated_deduplication_window = 4321, replicated_deduplication_window_seconds = 86400'), want, `${m.label} statement ${j + 1}`);
    }
  }
});

test('mlgate migrate --print renders the plan for the config with the database filled in, connecting to nothing', () => {
  const w = WarehouseSection.parse({ url: 'http://127.0.0.1:1', database: 'obs', cluster: { name: 'prod', replica: 'r-{replica}', distributed: true } });
  const text = printPlan(w);
  assert.match(text, /^-- mlgate schema for database obs, cluster prod \(replicated, Distributed tables\): printed, not run/);
  assert.doesNotMatch(text, /\{db\}/);
  assert.match(text, /CREATE DATABASE IF NOT EXISTS obs ON CLUSTER prod;/);
  assert.match(text, /-- 0200_controller_rollouts[^\n]*\nCREATE TABLE IF NOT EXISTS obs\.controller_rollouts ON CLUSTER prod\n/);
  assert.match(text, /ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', 'r-\{replica\}', seq\)/);
  assert.match(text, /at every start[^\n]*\nSYSTEM SYNC REPLICA obs\.requests;\n/);
  assert.match(text, /CREATE TABLE IF NOT EXISTS obs\.requests_1m_all ON CLUSTER prod AS obs\.requests_1m ENGINE = Distributed\(prod, obs, requests_1m\);/);
  const statements = text.split('\n').filter((l) => /^(CREATE|ALTER|SYSTEM)/.test(l)).length;
  assert.equal(statements, everyStatement(renderPlan({ cluster: w.cluster })).length);
  assert.match(printPlan(WarehouseSection.parse({})), /database mlgate, one server[\s\S]*ENGINE = MergeTree\n/);
});
