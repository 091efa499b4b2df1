/**
 * The PII corpora (test/fixtures/pii). planted.json is made by generate.ts (plus hand-written
 * cases) from the same formats the detectors were written for: it guards against regressions,
 * it does not measure recall; every planted value must be replaced by its typed placeholder, and
 * the PII-free control corpus must come back unchanged (the false-positive rate is printed and
 * must stay 0: the control texts are fixed, so any change is a regression, not noise).
 * independent.json is the recall measure: public test and documentation values (card test
 * numbers, IBAN registry examples, documentation IPs, providers' example keys, ...) written apart
 * from the detectors; none may leave in any form, and how many got their type's placeholder
 * (rather than a key mask) is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRedactor } from '../../services/telemetry/redact.ts';

const dir = join(import.meta.dirname, '../fixtures/pii');
type Planted = { name: string; contentType: string; input: string; planted: Array<{ type: string; value: string }> };
type Control = { name: string; contentType: string; input: string };
const planted = JSON.parse(readFileSync(join(dir, 'planted.json'), 'utf8')) as Planted[];
const control = JSON.parse(readFileSync(join(dir, 'control.json'), 'utf8')) as Control[];
const redactor = createRedactor({ budgetMs: 60_000, maxChars: 65536 });

const forms = (v: string): string[] => [v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v)];

test(`redaction corpus: every planted value in ${planted.length} inputs is replaced by its placeholder`, () => {
  assert.ok(planted.length >= 200, 'at least 200 planted inputs');
  const misses: string[] = [];
  let values = 0;
  const byType: Record<string, number> = {};
  for (const c of planted) {
    const r = redactor.redact(c.input, c.contentType);
    for (const p of c.planted) {
      values++;
      byType[p.type] = (byType[p.type] ?? 0) + 1;
      const leaked = forms(p.value).some((f) => r.text.includes(f));
      const placeholder = r.text.includes(`<${p.type}>`);
      const counted = (r.counts[p.type] ?? 0) >= c.planted.filter((q) => q.type === p.type).length;
      if (leaked || !placeholder || !counted) misses.push(`${c.name}: ${p.type} ${JSON.stringify(p.value)} -> ${r.text.slice(0, 300)} ${JSON.stringify(r.counts)}`);
    }
  }
  console.log(`[redaction] planted values: ${values} in ${planted.length} inputs; per type ${JSON.stringify(byType)}; missed ${misses.length} (a regression guard, not recall: these inputs follow the detectors' own formats)`);
  assert.deepEqual(misses, []);
});

test('redaction corpus (independent): no value of the hand-written public-sample corpus survives redaction', () => {
  const { cases } = JSON.parse(readFileSync(join(dir, 'independent.json'), 'utf8')) as { cases: Planted[] };
  assert.ok(cases.length >= 30, 'at least 30 independent inputs');
  const leaks: string[] = [];
  let values = 0;
  let typed = 0;
  for (const c of cases) {
    const r = redactor.redact(c.input, c.contentType);
    for (const p of c.planted) {
      values++;
      if (forms(p.value).some((f) => r.text.includes(f))) leaks.push(`${c.name}: ${p.type} ${JSON.stringify(p.value)} -> ${r.text.slice(0, 300)}`);
      else if (r.text.includes(`<${p.type}>`)) typed++;
    }
  }
  console.log(`[redaction] independent corpus: ${values} values in ${cases.length} inputs; removed ${values - leaks.length} (recall ${((values - leaks.length) / values * 100).toFixed(2)}%), ${typed} by their type's placeholder, ${values - leaks.length - typed} by a key mask`);
  assert.deepEqual(leaks, []);
});

test(`redaction corpus: ${control.length} PII-free inputs come back unchanged (false-positive rate)`, () => {
  assert.ok(control.length >= 100, 'at least 100 control inputs');
  const changed: string[] = [];
  for (const c of control) {
    const r = redactor.redact(c.input, c.contentType);
    const expected = c.contentType.includes('json') ? JSON.stringify(JSON.parse(c.input)) : c.input;
    if (r.text !== expected || Object.keys(r.counts).length) changed.push(`${c.name}: ${r.text.slice(0, 300)} ${JSON.stringify(r.counts)}`);
  }
  console.log(`[redaction] control inputs: ${control.length}; changed ${changed.length}; false-positive rate ${(changed.length / control.length * 100).toFixed(2)}%`);
  assert.deepEqual(changed, []);
});

test('redaction corpus: redactValue of a parsed JSON body gives what redact gives for its text', () => {
  const small = createRedactor({ budgetMs: 60_000, maxChars: 300, maskPaths: ['user.ssn', 'messages.*.content'] });
  let compared = 0;
  for (const c of [...planted, ...control]) {
    let value: unknown;
    try { value = JSON.parse(c.input); } catch { continue; }
    for (const r of [redactor, small]) assert.deepEqual(r.redactValue(value), r.redact(c.input, 'application/json'), c.name);
    compared++;
  }
  assert.ok(compared >= 50, `compared ${compared} JSON inputs`);
});

test('redaction corpus: a JSON object or array is redacted as JSON whatever type it is declared as, parsed by the caller or not', () => {
  let compared = 0;
  for (const c of [...planted, ...control]) {
    let value: unknown;
    try { value = JSON.parse(c.input); } catch { continue; }
    if (value === null || typeof value !== 'object') continue;
    const asJson = redactor.redact(c.input, 'application/json');
    for (const ct of ['application/json', 'Application/JSON; charset=UTF-8', 'application/vnd.api+json', 'text/plain', 'application/x-ndjson', undefined]) {
      assert.deepEqual(redactor.redact(c.input, ct, { parsed: value }), asJson, `${c.name} as ${ct}, parsed`);
      assert.deepEqual(redactor.redact(c.input, ct), asJson, `${c.name} as ${ct}`);
    }
    compared++;
  }
  assert.ok(compared >= 50, `compared ${compared} JSON inputs`);
});
