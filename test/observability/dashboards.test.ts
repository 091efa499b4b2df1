// The Grafana dashboards: well-formed, wired to the provisioned data sources, and every ClickHouse
// query (panels, variables, annotations) run on the embedded engine over the real schema (the
// warehouse migrations) with seeded events, expanded as Grafana and the ClickHouse plugin would
// for a fixed three-hour range, returning rows and the columns its panel needs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { embeddedWarehouse } from '../warehouse/support.ts';
import { ACTION_SQL } from '../../services/ledger/decision-actions.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { expandClickHouse, type VariableValues } from './grafana.ts';
import { seedRange, seedWarehouse, type SeedRange } from './seed.ts';
import {
  CLICKHOUSE, PROMETHEUS, ROOT, allPanels, dashboardQueries, loadDashboards, type Dashboard, type DashboardQuery, type Panel, type Variable,
} from './support.ts';

const DASHBOARDS = loadDashboards();
const REQUIRED = ['mlgate-model-traffic', 'mlgate-rollout', 'mlgate-pipeline', 'mlgate-audit'];

interface ProvisionedSource { name: string; uid: string; type: string; url?: string; jsonData?: Record<string, unknown> }

function provisionedSources(): ProvisionedSource[] {
  const doc = parseYaml(readFileSync(join(ROOT, 'dashboards/provisioning/datasources/mlgate.yml'), 'utf8')) as { datasources: ProvisionedSource[] };
  return doc.datasources;
}

/** Variables a query text refers to (`$name`, `${name}`, `${name:fmt}`), Grafana's own excluded. */
function referencedVariables(text: string): string[] {
  return [...text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g)].map((m) => (m[1] ?? m[2])!).filter((n) => !n.startsWith('__'));
}

test('the four dashboards exist with unique uids, unique panel ids and valid grid positions', () => {
  assert.deepEqual(DASHBOARDS.map((d) => d.json.uid).sort(), [...REQUIRED].sort());
  for (const { file, json: d } of DASHBOARDS) {
    assert.match(d.title, /^mlgate \/ /, `${file}: title`);
    assert.ok((d.tags as string[]).includes('mlgate'), `${file}: tag mlgate`);
    const ids = new Set<number>();
    for (const p of allPanels(d)) {
      assert.ok(!ids.has(p.id), `${file}: panel id ${p.id} used twice`);
      ids.add(p.id);
      const g = p.gridPos as { x: number; y: number; w: number; h: number };
      assert.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${file}: panel "${p.title}" grid ${JSON.stringify(g)}`);
      if (p.type === 'row') continue;
      assert.ok(p.title && typeof p.description === 'string' && p.description.length > 10, `${file}: panel "${p.title}" needs a title and a description`);
      assert.ok((p.targets ?? []).length > 0, `${file}: panel "${p.title}" has no query`);
    }
  }
});

test('every query uses a provisioned data source and only variables its dashboard defines', () => {
  const sources = provisionedSources();
  const uids = new Map(sources.map((s) => [s.uid, s.type]));
  assert.equal(uids.get('mlgate-prometheus'), PROMETHEUS);
  assert.equal(uids.get('mlgate-clickhouse'), CLICKHOUSE);
  assert.equal(sources.find((s) => s.type === CLICKHOUSE)?.jsonData?.defaultDatabase, 'mlgate');
  for (const { file, json: d } of DASHBOARDS) {
    const defined = new Set(d.templating.list.map((v) => v.name));
    const refs = (ds: { type: string; uid: string } | undefined, where: string) => {
      assert.ok(ds, `${file}: ${where} has no datasource`);
      assert.equal(uids.get(ds.uid), ds.type, `${file}: ${where} uses datasource ${JSON.stringify(ds)}, not a provisioned one`);
    };
    for (const p of allPanels(d)) {
      if (p.type === 'row') continue;
      refs(p.datasource, `panel "${p.title}"`);
      for (const t of p.targets ?? []) refs(t.datasource, `panel "${p.title}" ${t.refId}`);
    }
    for (const v of d.templating.list) if (v.type === 'query') refs(v.datasource, `variable ${v.name}`);
    for (const q of dashboardQueries(d)) {
      assert.ok(q.text.trim(), `${file}: ${q.where} is empty`);
      for (const name of referencedVariables(q.text)) assert.ok(defined.has(name), `${file}: ${q.where} uses $${name}, which the dashboard does not define`);
      if (q.datasource === CLICKHOUSE) {
        // Grafana's default database is mlgate; tables are named mlgate.<table> so the same text works anywhere.
        const bare = /\b(?:FROM|(?<!ARRAY\s)JOIN)\s+(?!\(|mlgate\.|system\.)([A-Za-z_][\w.]*)/i.exec(q.text);
        assert.equal(bare, null, `${file}: ${q.where} reads ${bare?.[1]} without the mlgate. prefix`);
      }
    }
  }
});

test('dashboards offer model, version and consumer variables where they filter by them', () => {
  const vars = (uid: string) => DASHBOARDS.find((d) => d.json.uid === uid)!.json.templating.list.map((v) => v.name);
  assert.deepEqual(vars('mlgate-model-traffic'), ['model', 'version', 'consumer']);
  assert.deepEqual(vars('mlgate-audit'), ['model', 'version', 'consumer']);
  assert.deepEqual(vars('mlgate-rollout'), ['model', 'rollout']);
  for (const { json: d } of DASHBOARDS) {
    for (const v of d.templating.list) assert.ok(v.multi && v.includeAll, `${d.uid}: variable ${v.name} should allow several values and All`);
  }
});

// ---------------------------------------------------------------------------------------------

interface Column { name: string; type: string }
interface QueryResult { meta: Column[]; data: Array<Record<string, unknown>> }

/** time | number | string | bool | array | other, from a ClickHouse type name. */
function typeClass(type: string): string {
  const t = type.replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2').replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2');
  if (/^DateTime/.test(t)) return 'time';
  if (/^(U?Int\d+|Float\d+|Decimal)/.test(t)) return 'number';
  if (/^(String|FixedString|Enum|UUID)/.test(t)) return 'string';
  if (t === 'Bool') return 'bool';
  if (t.startsWith('Array')) return 'array';
  return t;
}

async function runSql(wh: Warehouse, sql: string): Promise<QueryResult> {
  const rs = await wh.client.query({ query: sql, format: 'JSON' });
  return (await rs.json()) as unknown as QueryResult;
}

/** Grafana's data source for ClickHouse is database `mlgate`; the test's database stands in for it. */
function forDatabase(sql: string, db: string): string {
  return sql.replace(/\bmlgate\.(?=[A-Za-z_])/g, `${db}.`);
}

/** Runs a dashboard's variable queries in order, as Grafana does, and selects every value ("All"). */
async function resolveVariables(wh: Warehouse, d: Dashboard, range: SeedRange): Promise<Record<string, string[]>> {
  const values: Record<string, string[]> = {};
  for (const v of d.templating.list) {
    if (v.datasource?.type !== CLICKHOUSE) continue;
    const q = dashboardQueries(d).find((x) => x.where === `variable ${v.name}`)!;
    const sql = forDatabase(expandClickHouse(q.text, values, { ...range, intervalS: 60 }, `${d.uid} ${q.where}`), wh.database);
    const r = await runSql(wh, sql);
    values[v.name] = r.data.map((row) => String(Object.values(row)[0]));
  }
  return values;
}

/** The columns a table panel declares through its organize transformation. */
function declaredColumns(p: Panel): string[] | undefined {
  const org = (p.transformations as Array<{ id: string; options: { indexByName?: Record<string, number> } }> | undefined)?.find((x) => x.id === 'organize');
  return org?.options.indexByName ? Object.keys(org.options.indexByName) : undefined;
}

const asNumber = (v: unknown) => (v === null || v === undefined ? NaN : Number(v));

/** Checks one query's result against what its panel (or variable, or annotation) needs. */
function checkShape(q: DashboardQuery, r: QueryResult, v?: Variable): void {
  const where = `${q.dashboard} ${q.where}`;
  const cols = r.meta.map((c) => ({ name: c.name, cls: typeClass(c.type) }));
  const names = cols.map((c) => c.name);
  const numeric = cols.filter((c) => c.cls === 'number');
  assert.ok(r.data.length > 0, `${where}: no rows over the seeded data`);
  if (numeric.length > 0) {
    const finite = r.data.some((row) => numeric.some((c) => Number.isFinite(asNumber(row[c.name]))));
    assert.ok(finite, `${where}: every numeric value is null or not finite: ${JSON.stringify(r.data.slice(0, 3))}`);
  }
  if (q.kind === 'variable') {
    assert.ok(cols.length >= 1 && cols[0]!.cls === 'string', `${where}: a variable query returns a string column first, got ${JSON.stringify(r.meta)}`);
    assert.ok(v?.multi, `${where}`);
    return;
  }
  if (q.kind === 'annotation') {
    assert.deepEqual(cols.find((c) => c.name === 'time')?.cls, 'time', `${where}: annotations need a time column, got ${JSON.stringify(r.meta)}`);
    assert.equal(cols.find((c) => c.name === 'text')?.cls, 'string', `${where}: annotations need a text column`);
    for (const c of cols) assert.ok(['time', 'timeEnd', 'text', 'title', 'tags'].includes(c.name), `${where}: unexpected annotation column ${c.name}`);
    return;
  }
  const format = q.target?.format;
  if (q.kind === 'timeseries' || q.kind === 'state-timeline') {
    assert.equal(format, 0, `${where}: a time series panel's query needs format 0 (time series)`);
    assert.equal(q.target?.queryType, 'timeseries', `${where}: queryType`);
    assert.equal(names[0], 'time', `${where}: the first column must be time, got ${names.join(', ')}`);
    assert.equal(cols[0]!.cls, 'time', `${where}: time must be a DateTime, got ${r.meta[0]!.type}`);
    assert.ok(numeric.length >= 1, `${where}: a time series needs a numeric value column, got ${JSON.stringify(r.meta)}`);
    for (const c of cols.slice(1)) assert.ok(c.cls === 'number' || c.cls === 'string', `${where}: column ${c.name} is ${c.cls}; series need numbers and string labels`);
    const times = r.data.map((row) => Date.parse(`${String(row.time)}Z`));
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, `${where}: rows are not ordered by time`);
    return;
  }
  assert.equal(format, 1, `${where}: a ${q.kind} panel's query needs format 1 (table)`);
  assert.equal(q.target?.queryType, 'table', `${where}: queryType`);
  if (q.kind === 'table') {
    const declared = declaredColumns(q.panel!);
    assert.ok(declared, `${where}: a table panel lists its columns in an organize transformation`);
    assert.deepEqual([...names].sort(), [...declared].sort(), `${where}: columns ${names.join(', ')} vs the panel's ${declared.join(', ')}`);
    const overrides = ((q.panel!.fieldConfig as { overrides?: Array<{ matcher: { id: string; options: string } }> }).overrides ?? [])
      .filter((o) => o.matcher.id === 'byName').map((o) => o.matcher.options);
    for (const o of overrides) assert.ok(names.includes(o), `${where}: override for column ${o}, which the query does not return`);
    return;
  }
  assert.ok(numeric.length >= 1, `${where}: a ${q.kind} panel needs a numeric column, got ${JSON.stringify(r.meta)}`);
  if (q.kind === 'piechart') assert.ok(cols.some((c) => c.cls === 'string'), `${where}: a pie chart needs a label column`);
}

async function checkDashboard(t: TestContext, wh: Warehouse, d: Dashboard, range: SeedRange): Promise<number> {
  const values = await resolveVariables(wh, d, range);
  for (const [name, vals] of Object.entries(values)) assert.ok(vals.length > 0, `${d.uid}: variable ${name} has no values over the seeded data`);
  const vars: VariableValues = values;
  let ran = 0;
  for (const q of dashboardQueries(d).filter((x) => x.datasource === CLICKHOUSE)) {
    await t.test(q.where, async () => {
      const sql = forDatabase(expandClickHouse(q.text, vars, { ...range, intervalS: 300 }, `${d.uid} ${q.where}`), wh.database);
      let r: QueryResult;
      try {
        r = await runSql(wh, sql);
      } catch (err) {
        assert.fail(`${d.uid} ${q.where} failed: ${(err as Error).message}\n${sql}`);
      }
      checkShape(q, r, d.templating.list.find((v) => `variable ${v.name}` === q.where));
      ran++;
    });
  }
  return ran;
}

test('every ClickHouse query of every dashboard runs over the real schema and returns what its panel needs', async (t) => {
  const wh = await embeddedWarehouse(t);
  const range = seedRange();
  const seeded = await seedWarehouse(wh, range);
  assert.ok(seeded.requests > 5000, `seeded ${seeded.requests} requests`);
  let total = 0;
  for (const { json: d } of DASHBOARDS) {
    if (!dashboardQueries(d).some((q) => q.datasource === CLICKHOUSE)) continue;
    await t.test(d.uid, async (st) => { total += await checkDashboard(st, wh, d, range); });
  }
  const expected = DASHBOARDS.flatMap((d) => dashboardQueries(d.json)).filter((q) => q.datasource === CLICKHOUSE).length;
  assert.equal(total, expected, 'every ClickHouse query ran');
  assert.ok(total >= 40, `only ${total} ClickHouse queries`);
  t.diagnostic(`${total} ClickHouse queries checked over ${seeded.requests} seeded requests, ${seeded.decisions} decisions, ${seeded.adminChanges} admin changes, ${seeded.erasures} erasures`);
});

test('a variable filter narrows the results: one consumer selected yields only that consumer', async (t) => {
  const wh = await embeddedWarehouse(t);
  const range = seedRange();
  await seedWarehouse(wh, range);
  const d = DASHBOARDS.find((x) => x.json.uid === 'mlgate-model-traffic')!.json;
  const top = dashboardQueries(d).find((q) => q.where.startsWith('panel "Top consumers"'))!;
  const values = { ...(await resolveVariables(wh, d, range)), consumer: ['acme'] };
  const r = await runSql(wh, forDatabase(expandClickHouse(top.text, values, { ...range, intervalS: 300 }), wh.database));
  assert.deepEqual(r.data.map((row) => row.consumer), ['acme']);
  const all = await runSql(wh, forDatabase(expandClickHouse(top.text, await resolveVariables(wh, d, range), { ...range, intervalS: 300 }), wh.database));
  assert.deepEqual(all.data.map((row) => row.consumer).sort(), ['(anonymous)', 'acme', 'globex', 'initech']);
});

test('decision actions: every query that shows a canary_decisions action names it as the controller does (ACTION_SQL)', () => {
  let checked = 0;
  for (const { file, json: d } of DASHBOARDS) {
    for (const q of dashboardQueries(d)) {
      if (q.datasource !== CLICKHOUSE || !q.text.includes('canary_decisions') || !/\baction\b/.test(q.text)) continue;
      checked++;
      assert.ok(q.text.includes(ACTION_SQL), `${file}: ${q.where} shows the stored action; select ${'${ACTION_SQL}'} AS action (services/ledger/decision-actions.ts)`);
    }
  }
  assert.ok(checked >= 4, `${checked} queries show a decision's action`);
});
