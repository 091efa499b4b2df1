/**
 * Folding text before PII detection, so a value cannot hide behind how it is written:
 * - compatibility forms become their plain form (NFKC per code point: full-width `４１１１` and
 *   `＠`, mathematical digits, ligatures, circled digits);
 * - invisible characters are dropped: format characters (zero-width space, joiners, word joiner,
 *   BOM, bidi controls), default-ignorable code points (soft hyphen, variation selectors, Hangul
 *   fillers, tags) and combining marks;
 * - every space separator (no-break space, thin and narrow spaces, ideographic space) becomes a
 *   plain space, line and paragraph separators a newline, and every dash or minus sign `-`;
 * - decimal digits of other scripts (Arabic-Indic, Devanagari, ...) become ASCII digits.
 *
 * Detection runs on the folded text; {@link Folded.map} takes each match back to the original,
 * so the stored text is redacted at the right place and keeps everything that was not matched.
 * Pure ASCII text (the common case) is returned as is, without a map. Linear in the text's size.
 */

/** Folded text and the way back to the original. */
export interface Folded {
  text: string;
  /**
   * `map[i]` is the index in the original of folded character `i`; `map[text.length]` is the
   * original's length. Null when the text was not changed (identity).
   */
  map: Int32Array | null;
}

const DROP = /^[\p{Cf}\p{Default_Ignorable_Code_Point}\p{M}]$/u;
const SPACE = /^\p{Zs}$/u;
const DASH = /^\p{Pd}$|^[\u2212\u2796\uFE63\uFF0D]$/u;
const DIGIT = /^\p{Nd}$/u;
// eslint-disable-next-line no-control-regex -- the ASCII range is the point
const NON_ASCII = /[^\x00-\x7f]/;

/** Folded form of one non-ASCII code point, cached (the set seen in practice is small). */
const cache = new Map<number, string>();
const CACHE_MAX = 4096;

function foldCodePoint(cp: number, ch: string): string {
  const hit = cache.get(cp);
  if (hit !== undefined) return hit;
  let out: string;
  if (DROP.test(ch)) out = '';
  else if (SPACE.test(ch)) out = ' ';
  else if (cp === 0x2028 || cp === 0x2029 || cp === 0x85) out = '\n';
  else if (DASH.test(ch)) out = '-';
  else {
    out = ch.normalize('NFKC');
    // Compatibility decomposition can bring back invisible or combining characters, or dashes.
    if (out !== ch) out = [...out].map((c) => (DROP.test(c) ? '' : SPACE.test(c) ? ' ' : DASH.test(c) ? '-' : c)).join('');
    if (out.length === 1 || (out.length === 2 && out.codePointAt(0)! > 0xffff)) {
      const o = out.codePointAt(0)!;
      if (o > 0x7f && DIGIT.test(out)) out = String(digitValue(o));
    }
  }
  if (cache.size < CACHE_MAX) cache.set(cp, out);
  return out;
}

/**
 * The value of a decimal digit code point: Unicode assigns each script's digits 0-9 as one
 * contiguous run, so the value is the distance to the run's zero.
 */
function digitValue(cp: number): number {
  let zero = cp;
  while (zero > cp - 9 && DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
  return (cp - zero) % 10;
}

const isHigh = (u: number): boolean => u >= 0xd800 && u <= 0xdbff;

/** Folds `text` (see the module comment). */
export function fold(text: string): Folded {
  if (!NON_ASCII.test(text)) return { text, map: null };
  const parts: string[] = [];
  // Built from the first code point that folding changes: text that folds to itself (most
  // non-Latin prose: CJK, Cyrillic, Arabic letters) is returned as it is, like ASCII.
  let map: Int32Array | null = null;
  let n = 0;
  const room = (k: number) => {
    if (n + k < map!.length) return;
    const bigger = new Int32Array(Math.max(map!.length * 2, n + k + 16));
    bigger.set(map!);
    map = bigger;
  };
  // Start of the run of characters copied unchanged.
  let runStart = 0;
  const flushRun = (end: number) => {
    if (end > runStart) {
      parts.push(text.slice(runStart, end));
      room(end - runStart);
      // The second half of a surrogate pair points at the pair, as a folded code point does, so
      // a span never ends inside a pair.
      for (let k = runStart; k < end; k++) {
        const u = text.charCodeAt(k);
        map![n++] = u >= 0xdc00 && u <= 0xdfff && k > runStart && isHigh(text.charCodeAt(k - 1)) ? k - 1 : k;
      }
    }
  };
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      i++;
      continue;
    }
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    const out = cache.get(cp) ?? foldCodePoint(cp, text.slice(i, i + width));
    if (out.length === width && out.charCodeAt(0) === c && (width === 1 || out.charCodeAt(1) === text.charCodeAt(i + 1))) {
      i += width;
      continue;
    }
    map ??= new Int32Array(text.length + 16);
    flushRun(i);
    if (out.length > 0) {
      parts.push(out);
      room(out.length);
      // Every character an original code point became points back at that code point.
      for (let k = 0; k < out.length; k++) map![n++] = i;
    }
    i += width;
    runStart = i;
  }
  if (!map) return { text, map: null };
  flushRun(text.length);
  room(1);
  map![n] = text.length;
  return { text: parts.join(''), map: map!.subarray(0, n + 1) };
}

/** The original span of folded span [start, end). */
export function originalSpan(f: Folded, start: number, end: number): [number, number] {
  if (!f.map) return [start, end];
  return [f.map[start]!, f.map[end]!];
}
