import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonTooDeep, MAX_JSON_DEPTH, parseJsonBounded } from '../../services/core/json-depth.ts';
import { decodeEvent } from '../../services/telemetry/event.ts';

const nest = (d: number) => '['.repeat(d) + ']'.repeat(d);

test('json depth: the bound is exact, brackets inside strings and escaped quotes do not count', () => {
  assert.equal(jsonTooDeep(nest(MAX_JSON_DEPTH)), false);
  assert.equal(jsonTooDeep(nest(MAX_JSON_DEPTH + 1)), true);
  assert.equal(jsonTooDeep(`{"a":${nest(MAX_JSON_DEPTH - 1)}}`), false);
  assert.equal(jsonTooDeep(`{"a":${nest(MAX_JSON_DEPTH)}}`), true);
  // 500 brackets inside a string (with an escaped quote before them) are text, not nesting.
  const s = JSON.stringify({ text: `say "${'['.repeat(500)}` });
  assert.equal(jsonTooDeep(s), false);
  assert.deepEqual(parseJsonBounded(s), JSON.parse(s));
  // Wide documents are fine: depth, not size, is bounded.
  const wide = JSON.stringify(Array.from({ length: 5000 }, (_, i) => [[{ i }]]));
  assert.equal(jsonTooDeep(wide), false);
  assert.throws(() => parseJsonBounded(nest(1000)), (e: Error) => e instanceof SyntaxError && /nested deeper than 128 levels/.test(e.message));
  assert.throws(() => parseJsonBounded('{"a":'), SyntaxError, 'ordinary syntax errors still come from JSON.parse');
});

test('json depth: the ingester dead-letters a message nested too deep, with the reason', () => {
  const r = decodeEvent(Buffer.from(nest(200_000)));
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /not JSON: JSON nested deeper than 128 levels/);
});

test('json depth: on any text of quotes, backslashes and brackets, the scan agrees with a character-by-character reading', () => {
  // The reference: every character read in turn, a backslash in a string skipping the next one.
  const reference = (text: string, max: number): boolean => {
    let depth = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      } else if (c === '[' || c === '{') {
        if (++depth > max) return true;
      } else if (c === ']' || c === '}') depth--;
    }
    return false;
  };
  const text = fc.array(fc.constantFrom('"', '\\', '\\\\', '[', ']', '{', '}', 'a', '[[[[', ']]'), { maxLength: 80 }).map((a) => a.join(''));
  fc.assert(fc.property(text, fc.integer({ min: 1, max: 6 }), (t, max) => {
    // Padded past the length under which the scan is skipped.
    const padded = t + ' '.repeat(2 * max + 1);
    assert.equal(jsonTooDeep(padded, max), reference(padded, max));
  }), { numRuns: 5000 });
});
