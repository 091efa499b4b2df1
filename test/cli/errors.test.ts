/**
 * The error catalogue and `mlgate errors`: every MLG_* code anywhere in the product's source is in
 * the catalogue and every catalogued code is defined by an area (read from the source, not from
 * what a test happens to import); each entry says what it means and what to do; the command lists
 * them, explains one, and exits 2 naming an unknown code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CATALOGUE } from '../../services/core/error-catalogue.ts';
import { hasStack, mlgate, pooled, ROOT } from './helpers.ts';

const CATALOGUE_FILE = 'services/core/error-catalogue.ts';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|mjs|js)$/.test(name) ? [p] : [];
  });
}
const files = ['services', 'demo', 'bin'].flatMap((d) => sources(join(ROOT, d)))
  .map((f) => ({ path: relative(ROOT, f), text: readFileSync(f, 'utf8') }))
  .filter((f) => f.path !== CATALOGUE_FILE);

test('every MLG_* code in the source (thrown, mapped or named in a comment) is in the catalogue', () => {
  const unknown: string[] = [];
  let seen = 0;
  for (const f of files) {
    // A code ends in a letter or digit; `MLG_AUD_` and `MLG_<AREA>_` are prefixes, not codes.
    for (const m of f.text.matchAll(/\bMLG_[A-Z][A-Z0-9_]*[A-Z0-9]\b/g)) {
      seen++;
      if (!Object.hasOwn(ERROR_CATALOGUE, m[0])) unknown.push(`${m[0]} (${f.path})`);
    }
  }
  assert.ok(seen > 150, `the scan found the codes (${seen})`);
  assert.deepEqual(unknown, [], 'codes missing from services/core/error-catalogue.ts');
});

test('every catalogued code is defined by exactly one area with defineError, and says what it means and what to do', () => {
  const defined = new Map<string, string[]>();
  for (const f of files) {
    for (const m of f.text.matchAll(/defineError\('([A-Z0-9_]+)'\)/g)) defined.set(m[1]!, [...(defined.get(m[1]!) ?? []), f.path]);
  }
  for (const [code, e] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^MLG_[A-Z]+_[A-Z0-9_]+$/);
    assert.equal(defined.get(code)?.length, 1, `${code} is defined by ${defined.get(code)?.join(', ') ?? 'no area'}`);
    assert.ok(e.meaning.trim().length >= 10, `${code} has a meaning`);
    assert.ok(e.action.trim().length >= 10, `${code} says what to do`);
    assert.ok(Number.isInteger(e.status) && e.status >= 400 && e.status <= 599, `${code}: status ${e.status}`);
  }
  assert.deepEqual([...defined.keys()].filter((c) => !Object.hasOwn(ERROR_CATALOGUE, c)), []);
});

test('mlgate errors lists every code; mlgate errors CODE explains one; an unknown code exits 2 naming it', async () => {
  const [list, one, lower, asJson, oneJson, unknown, prefix, two, help] = await pooled([
    () => mlgate(['errors']), () => mlgate(['errors', 'MLG_GW_CIRCUIT_OPEN']), () => mlgate(['errors', 'mlg_wh_unavailable']),
    () => mlgate(['errors', '--json']), () => mlgate(['errors', 'MLG_TEL_LOG_FULL', '--json']), () => mlgate(['errors', 'MLG_GW_NOPE']),
    () => mlgate(['errors', 'MLG_CONTROL']), () => mlgate(['errors', 'MLG_GW_INTERNAL', 'MLG_GW_BAD_JSON']), () => mlgate(['errors', '--help']),
  ]);
  const codes = Object.keys(ERROR_CATALOGUE);
  assert.equal(list.code, 0, list.stderr);
  for (const code of codes) assert.match(list.stdout, new RegExp(`^${code} +${ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status} +\\S`, 'm'), code);
  assert.match(list.stdout, new RegExp(`\\n${codes.length} codes;`));

  const circuit = ERROR_CATALOGUE.MLG_GW_CIRCUIT_OPEN;
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, `MLG_GW_CIRCUIT_OPEN (HTTP 503)\n\nmeaning:    ${circuit.meaning}\nwhat to do: ${circuit.action}\n`);
  assert.equal(lower.code, 0, lower.stderr);
  assert.match(lower.stdout, /^MLG_WH_UNAVAILABLE \(HTTP 503\)/);

  assert.equal(asJson.code, 0, asJson.stderr);
  const entries = JSON.parse(asJson.stdout) as Array<{ code: string; status: number; meaning: string; action: string }>;
  assert.deepEqual(entries.map((x) => x.code), [...codes].sort((a, b) => a.localeCompare(b)));
  assert.deepEqual(JSON.parse(oneJson.stdout), { code: 'MLG_TEL_LOG_FULL', ...ERROR_CATALOGUE.MLG_TEL_LOG_FULL });

  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /^mlgate errors: unknown error code 'MLG_GW_NOPE'; mlgate errors lists every code\nusage: mlgate errors/);
  assert.equal(unknown.stdout, '');
  assert.ok(!hasStack(unknown.stderr), unknown.stderr);
  assert.equal(prefix.code, 2);
  assert.match(prefix.stderr, /unknown error code 'MLG_CONTROL'; codes that match: MLG_CONTROL_BAD_OPTIONS, MLG_CONTROL_CHANNEL_CLOSED,/);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /unexpected argument 'MLG_GW_BAD_JSON'/);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: mlgate errors \[CODE\] \[--json\]/);
});
