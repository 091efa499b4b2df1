import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COLON_PAIR, EQ_PAIR, replacePairs } from '../../services/telemetry/redact.ts';

// Text built from the characters the pair patterns care about: key characters (letters, digits,
// `_ . -`, a non-ASCII letter), both separators, spaces and tabs, newlines, quotes, placeholders.
const piece = fc.constantFrom('a', 'b', 'Z', '9', '_', '.', '-', 'é', ':', '=', ' ', '\t', '\n', '"', "'", '&', ';', ',', '<', '>', '<EMAIL>', 'password', 'api_key', 'Bearer ',
  // Keys near the 61-character limit, and runs past it.
  'k'.repeat(20), 'q'.repeat(40), 'y'.repeat(58), 'x'.repeat(70));
const text = fc.array(piece, { maxLength: 120 }).map((a) => a.join(''));

for (const [name, re, separator, parts] of [['key=value', EQ_PAIR, '=', 3], ['key: value', COLON_PAIR, ':', 4]] as const) {
  test(`pair masking (${name}): anchored at separators, the result equals String.replace on any text`, () => {
    const at = new RegExp(re.source, 'uy');
    // The match and its groups (String.replace passes the offset after them).
    const mark = (m: RegExpExecArray | string[]) => `[${m.slice(0, parts).map((g) => g ?? '∅').join('|')}]`;
    fc.assert(fc.property(text, (t) => {
      const want = t.replace(re, (...args: unknown[]) => mark(args.slice(0, parts) as string[]));
      assert.equal(replacePairs(t, at, separator, mark), want);
    }), { numRuns: 3000 });
  });
}

test('pair masking: text of key characters with one separator costs what its length does (linear, not 60 steps a character)', () => {
  // Counted in regex attempts, not time: the anchored form tries at most 65 starts per separator.
  let attempts = 0;
  const at = new RegExp(EQ_PAIR.source, 'uy');
  const counting = new Proxy(at, { get: (r, k) => (k === 'exec' ? (s: string) => { attempts++; return r.exec(s); } : Reflect.get(r, k)) });
  const t = 'a.'.repeat(50_000) + ':x=';
  replacePairs(t, counting as RegExp, '=', (m) => m[0]);
  assert.ok(attempts <= 65, `${attempts} attempts for one separator`);
});

test('quoted pairs: in a JSON document stringified 0 to 4 times, every secret string value is masked, every other value kept, and the text still parses', async () => {
  const { maskQuotedPairs } = await import('../../services/telemetry/redact.ts');
  const secret = (k: string) => k === 'password' || k === 'api_key';
  const keep = (v: string) => v === '<MASKED>';
  // Values with quotes, backslashes, colons and pair-like text of their own (no secret pairs inside:
  // those are masked too, which the level tests show).
  const value = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('a"b', 'c\\d', '\\"', 'x": "y', '"user": "z"', 'e\\\\"f', ''));
  const key = fc.constantFrom('password', 'api_key', 'user', 'note', 'pass word');
  const doc = fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value, { maxKeys: 3 })), { maxKeys: 4 });
  fc.assert(fc.property(doc, fc.integer({ min: 0, max: 4 }), (d, levels) => {
    let text = JSON.stringify(d);
    for (let i = 0; i < levels; i++) text = JSON.stringify(text);
    let back: unknown = maskQuotedPairs(text, secret, keep).text;
    for (let i = 0; i <= levels; i++) back = JSON.parse(back as string);
    const want = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).map(([k, v]) =>
      // A secret key's object value is not a quoted pair; the pairs inside it are.
      [k, typeof v === 'object' && v !== null ? want(v as Record<string, unknown>) : secret(k) ? '<MASKED>' : v]));
    assert.deepEqual(back, want(d));
  }), { numRuns: 2000 });
});

test('a cut output drops its partial tail exactly as the pattern /<[A-Z_]*$|[^\\s"\',;:{}()[\\]<>&=|]+$/u says', async () => {
  const { partialTailStart } = await import('../../services/telemetry/redact.ts');
  const pattern = /<[A-Z_]*$|[^\s"',;:{}()[\]<>&=|]+$/u;
  const tailText = fc.array(fc.constantFrom('a', 'Z', '_', '<', '>', 'EMAIL', ' ', '\u00a0', '\u3000', '"', '=', '&', 'é', '😀', '\n', ':', 'x<AB'), { maxLength: 30 }).map((a) => a.join(''));
  fc.assert(fc.property(tailText, (t) => {
    assert.equal(t.slice(0, partialTailStart(t)), t.replace(pattern, ''));
  }), { numRuns: 3000 });
});
