import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fold } from '../../services/telemetry/text-fold.ts';

// ASCII, text that folds to itself (CJK, Cyrillic, an emoji) and text that does not (full-width,
// invisible, combining, other scripts' digits, unusual spaces and dashes).
const piece = fc.constantFrom('a', '4', ' ', '@', '日本', 'Ж', '😀', '４', '＠', '\u3000', '\u200b', '\u00ad', 'e\u0301', '\u0663', '\u2013', '\u00a0', '\ufeff', '𝟗');
const text = fc.array(piece, { maxLength: 40 }).map((a) => a.join(''));

test('fold: the text and its map are what folding each code point alone gives, in order', () => {
  fc.assert(fc.property(text, (t) => {
    const f = fold(t);
    let want = '';
    const map: number[] = [];
    let i = 0;
    for (const ch of t) {
      const out = ch.charCodeAt(0) < 0x80 ? ch : fold(ch).text;
      want += out;
      for (let k = 0; k < out.length; k++) map.push(i);
      i += ch.length;
    }
    map.push(t.length);
    assert.equal(f.text, want);
    if (want === t) assert.equal(f.map, null, 'a text that folds to itself has no map');
    else assert.deepEqual([...f.map!], map);
  }), { numRuns: 3000 });
});
