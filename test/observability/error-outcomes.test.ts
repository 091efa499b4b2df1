/**
 * The error outcomes are one fact (services/telemetry/error-outcomes.ts). Dashboards and alert
 * rules cannot import it, so this test reads every outcome set they spell (SQL `outcome IN (…)`,
 * PromQL `outcome=~"…"`, and the lists in panel descriptions) and the requests_1m migration's
 * rendered SQL: a set that names an error outcome must be exactly ERROR_OUTCOMES, unless it is a
 * subset declared below with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_OUTCOMES } from '../../services/telemetry/error-outcomes.ts';
import { ERROR_OUTCOMES as ANALYSIS_ERROR_OUTCOMES } from '../../services/controller/analysis/input.ts';
import { allMigrations } from '../../services/warehouse/migrations/index.ts';
import { migrationContext, renderMigration } from '../../services/warehouse/migrate.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';

const root = join(import.meta.dirname, '../..');
const WANT = [...ERROR_OUTCOMES].sort().join(',');

/** Sets that deliberately name only some error outcomes: file, set, why. */
const SUBSETS: ReadonlyArray<[string, string, string]> = [
  ['alerts/gateway.rules.yml', 'timeout,upstream_error', 'the upstream-errors alert: failures of the model server only, not of the gateway'],
];

interface Found { where: string; set: string }

/** Every outcome set spelled in `text`. */
function outcomeSets(text: string, where: string): Found[] {
  const found: Found[] = [];
  const add = (items: string[]) => found.push({ where, set: items.map((s) => s.trim()).filter(Boolean).sort().join(',') });
  const inLists = new Set<number>();
  for (const m of text.matchAll(/outcome\s+IN\s*(\(([^)]*)\))/gi)) {
    inLists.add(m.index! + m[0].length - m[1]!.length);
    add([...m[2]!.matchAll(/'([a-z_]+)'/g)].map((q) => q[1]!));
  }
  for (const m of text.matchAll(/outcome\s*=~\s*"([^"]*)"/g)) add(m[1]!.split('|'));
  // Prose lists in descriptions: ('upstream_error', 'timeout', …)
  for (const m of text.matchAll(/\(((?:'[a-z_]+'(?:,\s*)?){2,})\)/g)) if (!inLists.has(m.index!)) add([...m[1]!.matchAll(/'([a-z_]+)'/g)].map((q) => q[1]!));
  return found.filter((f) => f.set.split(',').some((o) => (ERROR_OUTCOMES as readonly string[]).includes(o)));
}

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
  return out;
}

function check(found: Found[]): string[] {
  return found.filter((f) => f.set !== WANT && !SUBSETS.some(([file, set]) => f.where.startsWith(file) && set === f.set))
    .map((f) => `${f.where}: {${f.set}} is not ERROR_OUTCOMES {${WANT}}`);
}

test('error outcomes: the controller analysis uses the one list', () => {
  assert.equal(ANALYSIS_ERROR_OUTCOMES, ERROR_OUTCOMES);
});

test('error outcomes: every dashboard query, expression and description spells the one list', () => {
  const found: Found[] = [];
  for (const f of readdirSync(join(root, 'dashboards')).filter((n) => n.endsWith('.json'))) {
    const dash = JSON.parse(readFileSync(join(root, 'dashboards', f), 'utf8'));
    for (const s of strings(dash)) found.push(...outcomeSets(s, `dashboards/${f}`));
  }
  assert.ok(found.length >= 7, `found ${found.length} outcome sets in the dashboards (the patterns no longer match?)`);
  assert.deepEqual(check(found), []);
});

test('error outcomes: every alert rule spells the one list (or a declared subset)', () => {
  const found: Found[] = [];
  for (const f of readdirSync(join(root, 'alerts')).filter((n) => n.endsWith('.yml'))) {
    found.push(...outcomeSets(readFileSync(join(root, 'alerts', f), 'utf8'), `alerts/${f}`));
  }
  assert.ok(found.length >= 8, `found ${found.length} outcome sets in the alert rules`);
  assert.deepEqual(check(found), []);
  for (const [file, set] of SUBSETS) assert.ok(found.some((f) => f.where === file && f.set === set), `declared subset ${file} {${set}} is no longer there: remove it from SUBSETS`);
});

test('error outcomes: the requests_1m migration counts errors over the one list', () => {
  const m = allMigrations().find((x) => x.name === 'requests_1m')!;
  const sql = renderMigration(m, migrationContext(WarehouseSection.parse({}).retention, 1000)).join('\n');
  const found = outcomeSets(sql, 'migration 0002');
  assert.equal(found.length, 1);
  assert.deepEqual(check(found), []);
});
