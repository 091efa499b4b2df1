/**
 * A lexer for the ClickHouse SQL that custom_sql metrics may use, so the checker reads the text
 * the way the engine will. Where ClickHouse's own lexer has a rule that changes the statement's
 * structure (where a comment, a string or a quoted identifier ends), this one follows it exactly
 * (ClickHouse 24-26 `Lexer.cpp`, checked against the embedded engine):
 *
 * - `--` and `# ` / `#!` comments run to `\n` only (a `\r` does not end them); `#` followed by
 *   anything else is refused (the engine refuses it too);
 * - `/* … *\/` comments nest; an unclosed one is refused;
 * - `'…'` strings: a backslash escapes the next byte and a doubled quote is one quote; `` `…` `` and
 *   `"…"` identifiers: a doubled quote is one quote, and a backslash is refused (the checker compares
 *   names, so a name must mean one thing); an unclosed string or identifier is refused;
 * - numbers take a sign only right after their exponent letter (`1e-5`), so `0x1e--1` is a number
 *   followed by a comment, as the engine reads it.
 *
 * Whatever could be read two ways is refused instead: heredoc strings (`$$…$$`), `$` in words,
 * non-ASCII characters outside strings, comments and quoted identifiers (Unicode look-alikes and
 * spaces), control characters other than tab, CR and LF, and backslashes outside quotes.
 */

/** Kinds of {@link Token}. */
export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'punct';

/** One significant token (comments and whitespace are dropped). */
export interface Token {
  readonly kind: TokenKind;
  /** The token's text in the source (for `quoted`, with its quotes). */
  readonly text: string;
  /** `word`: the text; `quoted` and `string`: the unescaped content; else the text. */
  readonly value: string;
  /** Offset of the first character in the source. */
  readonly at: number;
  /** Offset just past the last character. */
  readonly end: number;
}

/** Raised by {@link tokenize} with the offset where lexing stopped. */
export class SqlLexError extends Error {
  /** Offset of the offending character. */
  readonly at: number;
  constructor(message: string, at: number) {
    super(message);
    this.name = 'SqlLexError';
    this.at = at;
  }
}

const WORD_START = /[A-Za-z_]/;
const WORD = /[A-Za-z0-9_]/;
const DIGIT = /[0-9]/;
const HEX = /[0-9A-Fa-f]/;
const PUNCT = new Set('()[]{},;.:+-*/%=<>!|?^~&@'.split(''));

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', a: '\x07', 0: '\0' };

/** Scans a quoted token starting at `start` (the quote); returns its end and unescaped content. */
function quoted(sql: string, start: number, q: string, what: string): { end: number; value: string } {
  let value = '';
  let i = start + 1;
  for (;;) {
    if (i >= sql.length) throw new SqlLexError(`unclosed ${what}`, start);
    const c = sql[i]!;
    if (c === '\\') {
      // Names are compared with the allowlist, so they must mean one thing: no escapes in them.
      if (q !== "'") throw new SqlLexError(`backslash escape in a ${what}`, i);
      if (i + 1 >= sql.length) throw new SqlLexError(`unclosed ${what}`, start);
      const n = sql[i + 1]!;
      value += ESCAPES[n] ?? n;
      i += 2;
    } else if (c === q) {
      if (sql[i + 1] === q) { value += q; i += 2; continue; }
      return { end: i + 1, value };
    } else {
      value += c;
      i++;
    }
  }
}

/** End of a number starting at `i` (a digit), as ClickHouse's lexer delimits it. */
function numberEnd(sql: string, i: number): number {
  const n = sql.length;
  let hex = false;
  if (sql[i] === '0' && i + 2 < n && /[xXbB]/.test(sql[i + 1]!)) {
    const x = /[xX]/.test(sql[i + 1]!);
    if (x ? HEX.test(sql[i + 2]!) : sql[i + 2] === '0' || sql[i + 2] === '1') { hex = x; i += 2; } else i++;
  } else i++;
  const digit = hex ? HEX : DIGIT;
  while (i < n && digit.test(sql[i]!)) i++;
  if (sql[i] === '.') {
    i++;
    while (i < n && digit.test(sql[i]!)) i++;
  }
  return exponentEnd(sql, i, hex);
}

/** Skips an exponent (`e-5`, or `p+3` after a hex mantissa) at `i`, the way ClickHouse does. */
function exponentEnd(sql: string, i: number, hex: boolean): number {
  const n = sql.length;
  if (i + 1 < n && (hex ? /[pP]/ : /[eE]/).test(sql[i]!)) {
    i++;
    if (i + 1 < n && (sql[i] === '-' || sql[i] === '+')) i++;
    while (i < n && DIGIT.test(sql[i]!)) i++;
  }
  return i;
}

/** End of a comment starting at `i` (`--`, `# ` or `#!`): the next `\n` or the end. */
function lineEnd(sql: string, i: number): number {
  const nl = sql.indexOf('\n', i);
  return nl < 0 ? sql.length : nl;
}

/** End of a `/* *\/` comment starting at `i`, nested as ClickHouse nests them. */
function blockEnd(sql: string, i: number): number {
  let depth = 1;
  let j = i + 2;
  while (j + 1 < sql.length) {
    if (sql[j] === '/' && sql[j + 1] === '*') { depth++; j += 2; } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  throw new SqlLexError('unclosed /* comment', i);
}

const hexOf = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Splits `sql` into significant tokens.
 * @throws SqlLexError for text the engine would read differently or refuse (see the module comment).
 */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  const push = (kind: TokenKind, at: number, end: number, value = sql.slice(at, end)) => out.push({ kind, text: sql.slice(at, end), value, at, end });
  const prev = () => out[out.length - 1];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const code = c.charCodeAt(0);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (code < 0x20 || code === 0x7f) throw new SqlLexError(`control character ${hexOf(c)}`, i);
    if (code > 0x7e) throw new SqlLexError(`non-ASCII character ${hexOf(c)} outside a string or quoted identifier`, i);
    if (c === '-' && sql[i + 1] === '-') { i = lineEnd(sql, i); continue; }
    if (c === '#') {
      if (sql[i + 1] === ' ' || sql[i + 1] === '!') { i = lineEnd(sql, i); continue; }
      throw new SqlLexError("'#' that does not start a comment ('# ' or '#!')", i);
    }
    if (c === '/' && sql[i + 1] === '*') { i = blockEnd(sql, i); continue; }
    if (c === "'") { const q = quoted(sql, i, c, 'string'); push('string', i, q.end, q.value); i = q.end; continue; }
    if (c === '`' || c === '"') { const q = quoted(sql, i, c, 'quoted identifier'); push('quoted', i, q.end, q.value); i = q.end; continue; }
    if (c === '$') throw new SqlLexError("'$' (heredoc strings and $ in names are not supported)", i);
    if (c === '\\') throw new SqlLexError('backslash outside a string', i);
    if (DIGIT.test(c)) {
      let end = numberEnd(sql, i);
      // `1abc` is a word to the engine; the checker only needs to know it is not a number.
      const word = end < sql.length && WORD.test(sql[end]!);
      while (end < sql.length && WORD.test(sql[end]!)) end++;
      push(word ? 'word' : 'number', i, end);
      i = end;
      continue;
    }
    if (c === '.' && DIGIT.test(sql[i + 1] ?? '')) {
      // `.5` is a number unless it follows something `.1` can access (x.1, t.1.1).
      const p = prev();
      const access = p && (p.kind === 'word' || p.kind === 'quoted' || p.kind === 'number' || p.text === ')' || p.text === ']');
      if (i === 0 || !access) {
        let end = i + 1;
        while (end < sql.length && DIGIT.test(sql[end]!)) end++;
        end = exponentEnd(sql, end, false);
        push('number', i, end);
        i = end;
        continue;
      }
    }
    if (WORD_START.test(c)) {
      let end = i + 1;
      while (end < sql.length && WORD.test(sql[end]!)) end++;
      if (sql[end] === '$') throw new SqlLexError("'$' (heredoc strings and $ in names are not supported)", end);
      push('word', i, end);
      i = end;
      continue;
    }
    if (PUNCT.has(c)) { push('punct', i, i + 1); i++; continue; }
    throw new SqlLexError(`unexpected character ${JSON.stringify(c)}`, i);
  }
  return out;
}
