/**
 * Redaction: raw PII never leaves the gateway process. Runs before the event is built.
 * API contract (used by telemetry/event-builder.ts): `createRedactor(options).redact(body,
 * contentType, { parsed, maskPaths })`.
 *
 * - What is JSON is treated as JSON, whatever it is declared as: a body declared JSON (media
 *   type `application/json`, `text/json` or any `+json`, in any case), or any body whose text
 *   parses as a JSON object or array. JSON keeps its shape: every string value (and key) is
 *   scanned, values at mask paths and under secret-like key names become `<MASKED>`, numbers of
 *   any sign are scanned by their digits, and the result is serialised only up to `maxChars` (the
 *   walk stops there, so a large body costs what is kept, not what was sent).
 * - Newline-delimited JSON is redacted line by line, each line that parses as JSON as JSON.
 * - Form bodies (`application/x-www-form-urlencoded`) are decoded, masked by key, scanned per
 *   value, re-joined.
 * - Other text is scanned whole, including `"key": "value"` and `key=value` pairs whose key names
 *   a secret (a JSON body too large or too broken to parse still has its secrets masked).
 * - Binary bodies (NUL bytes) become `<BINARY n bytes>`.
 *
 * Detection runs on folded text (text-fold.ts: compatibility forms, invisible characters,
 * separators) and is mapped back, so disguised values are found and the stored text is cut at
 * the right place. Every detector is linear in the text's size (pii-detectors.ts), and no more is
 * scanned than can be kept: each string is cut to what is left of `maxChars` plus a margin before
 * it is scanned. When the output is cut, the partial token at the cut is dropped and the counts
 * get `TRUNCATED: 1`. A detector that has rejected more candidates in a string than
 * {@link rejectAllowance} allows (text built of near-misses: `DE89 ` repeated is an IBAN
 * candidate every 5 characters) stops there, and the string is kept only up to that point, also
 * marked `TRUNCATED`: what was not scanned is not kept, and hostile text costs about what benign
 * text does. A redaction that still takes longer than `budgetMs` keeps nothing
 * (`UNSCANNED: 1`): the event then carries the payload's hash only.
 * Each replaced value becomes a typed placeholder (`<EMAIL>`, `<PHONE>`, ...) and is counted per
 * type in `counts`.
 */
import { isAscii } from 'node:buffer';
import { parseJsonBounded } from '../core/json-depth.ts';
import { DETECTORS, KEY_HINTS, type Detector, type PiiType } from './pii-detectors.ts';
import { parseMaskPath } from './json-path.ts';
import { fold } from './text-fold.ts';

/** Options of {@link createRedactor}. */
export interface RedactorOptions {
  /** Maximum length of `text` in the result (characters); longer output is truncated. */
  maxChars: number;
  /** JSON paths (`user.ssn`, `$.messages[*].content`; `*` for any key or index) always masked. */
  maskPaths?: readonly string[];
  /**
   * Secret-like key names whose values are always masked, compared after folding, without case
   * and without anything but letters and digits. Names of 5 or more characters match anywhere
   * in a key (`password` masks `user_password` and `newPassword`); shorter ones match a whole
   * key or a whole word of it (`pin` masks `user_pin` and `pinCode`, not `shipping`). Default
   * {@link DEFAULT_MASK_KEYS}; `[]` turns it off.
   */
  maskKeys?: readonly string[];
  /** Longest a single redaction may take before its text is dropped (default 100 ms). */
  budgetMs?: number;
}

/** Per-call options of {@link Redactor.redact}. */
export interface RedactCallOptions {
  /** The body, already parsed by the caller as JSON (used instead of parsing it again). */
  parsed?: unknown;
  /** More mask paths for this call (a model's own), in the same syntax as the redactor's. */
  maskPaths?: readonly string[] | undefined;
}

/** Result of redacting one payload. */
export interface Redaction {
  /** Redacted (and possibly truncated) text; JSON keeps its shape. */
  text: string;
  /** Replacements per entity type, e.g. `{ EMAIL: 2 }`; `TRUNCATED`/`UNSCANNED` mark a cut. */
  counts: Record<string, number>;
  /** True when `text` was cut to `maxChars` (or dropped: `UNSCANNED`). */
  truncated: boolean;
}

/** Redacts payloads. */
export interface Redactor {
  /** Redacts a request or response body (see the module comment). */
  redact(body: Buffer | string, contentType?: string, opts?: RedactCallOptions): Redaction;
  /** Redacts a free-text string, adding to `counts`. */
  redactText(text: string, counts: Record<string, number>): string;
  /** Redacts an already-parsed JSON body: the same result as `redact` of its text as JSON. */
  redactValue(value: unknown, maskPaths?: readonly string[]): Redaction;
}

/** Secret-like key names masked by default (see {@link RedactorOptions.maskKeys}). */
export const DEFAULT_MASK_KEYS: readonly string[] = Object.freeze([
  'password', 'passwd', 'passphrase', 'secret', 'apikey', 'apitoken', 'accesskey', 'accesstoken', 'refreshtoken',
  'idtoken', 'authtoken', 'sessiontoken', 'bearertoken', 'authorization', 'privatekey', 'signingkey', 'encryptionkey',
  'cookie', 'sessionid', 'creditcard', 'cardnumber', 'securitycode', 'socialsecurity',
  'pwd', 'pin', 'cvv', 'cvv2', 'cvc', 'ssn', 'otp',
]);

/** Text beyond what is kept that is still scanned, so a value straddling the cut is caught whole. */
const SCAN_MARGIN = 4096;
/** Bodies above this are scanned as text (pre-cut) instead of parsed as JSON. */
const MAX_JSON_PARSE = 1024 * 1024;
/** How deep a JSON document inside a JSON string is redacted as JSON. */
const MAX_NESTED_JSON = 2;
const MASKED = '<MASKED>';
const DEFAULT_BUDGET_MS = 100;

class BudgetExceeded extends Error {}

/** Placeholder-sized filler: keeps positions while later detectors run, matches none of them. */
function filler(n: number): string {
  return n <= 1 ? '<' : `<${'X'.repeat(n - 2)}>`;
}

/**
 * Candidates one detector may reject in a string of `length` characters before it stops: 64,
 * plus one per 16 characters. Benign text stays far below (a table of 16-digit ids that fail the
 * Luhn check is one per 17 characters); text made of near-misses does not.
 */
export function rejectAllowance(length: number): number {
  return 64 + (length >> 4);
}

/** Spans one detector found, and where it stopped (the text's length when it scanned it all). */
function findSpans(d: Detector, text: string): { spans: Array<[number, number]>; stop: number } {
  if (d.scan) return { spans: d.scan(text), stop: text.length };
  const re = d.re!;
  re.lastIndex = 0;
  const out: Array<[number, number]> = [];
  let last = 0;
  let rejected = 0;
  const allowed = rejectAllowance(text.length);
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const span = d.check ? d.check(m, text) : ([m.index, m.index + m[0].length] as [number, number]);
    if (!span || span[0] < last || span[1] <= span[0]) {
      // Past its allowance of near-misses the detector stops: the text from here is not kept.
      if (++rejected > allowed) return { spans: out, stop: m.index };
      // Candidates are bounded in length, so one character on costs a bounded amount.
      re.lastIndex = m.index + 1;
      continue;
    }
    out.push(span);
    last = span[1];
    re.lastIndex = Math.max(span[1], m.index + 1);
  }
  return { spans: out, stop: text.length };
}

/**
 * Replaces every detected entity in `text` with its placeholder, counting per type. Runs the
 * detectors in order on the folded text; each found span is blanked out for the ones after it.
 */
export function redactString(text: string, counts: Record<string, number>, deadline = Infinity): string {
  if (text.length < 5) return text;
  const folded = fold(text);
  let t = folded.text;
  const found: Array<[number, number, PiiType]> = [];
  // Where the scan stopped (a detector past its allowance of near-misses): nothing after is kept.
  let stop = t.length;
  for (const d of DETECTORS) {
    if (d.pre && !d.pre(t)) continue;
    const r = findSpans(d, t);
    const spans = r.spans;
    if (r.stop < stop) stop = r.stop;
    if (spans.length) {
      const parts: string[] = [];
      let at = 0;
      for (const [s, e] of spans) {
        parts.push(t.slice(at, s), filler(e - s));
        found.push([s, e, d.type]);
        at = e;
      }
      parts.push(t.slice(at));
      t = parts.join('');
    }
    if (stop < t.length) t = t.slice(0, stop);
    if (performance.now() > deadline) throw new BudgetExceeded();
  }
  const map = folded.map;
  const end = stop < folded.text.length ? (map ? map[stop]! : stop) : text.length;
  if (end < text.length) counts.TRUNCATED = 1;
  if (!found.length) return end < text.length ? text.slice(0, end) : text;
  found.sort((a, b) => a[0] - b[0]);
  const parts: string[] = [];
  let at = 0;
  for (const [fs, fe, type] of found) {
    if (fs >= stop) break;
    const s = map ? map[fs]! : fs;
    const e = map ? map[fe]! : fe;
    counts[type] = (counts[type] ?? 0) + 1;
    if (s < at) {
      // Overlaps the previous replacement (possible only across folding): widen that one.
      if (e > at) at = e;
      continue;
    }
    parts.push(text.slice(at, s), `<${type}>`);
    at = e;
  }
  if (at < end) parts.push(text.slice(at, end));
  return parts.join('');
}

/** A key name folded for comparison: plain letters and digits, lower case. */
function keyWords(key: string): { joined: string; words: string[] } {
  const f = fold(key).text;
  const words = f.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  return { joined: words.join(''), words };
}

/** Compiles mask key names into a test of key names. */
function keyMatcher(names: readonly string[]): (key: string) => boolean {
  const long: string[] = [];
  const short = new Set<string>();
  for (const n of names) {
    const k = keyWords(n).joined;
    if (!k) continue;
    if (k.length >= 5) long.push(k);
    else short.add(k);
  }
  if (!long.length && !short.size) return () => false;
  const cache = new Map<string, boolean>();
  return (key) => {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const { joined, words } = keyWords(key);
    const v = short.has(joined) || words.some((w) => short.has(w)) || long.some((l) => joined.includes(l));
    if (cache.size < 10_000) cache.set(key, v);
    return v;
  };
}

function keyHint(key: string, value: string): string | undefined {
  if (value.length < 7 || value.length > 40) return undefined;
  const v = fold(value).text;
  const k = fold(key).text;
  const digits = v.replace(/\D/g, '').length;
  for (const h of KEY_HINTS) if (digits >= h.minDigits && digits <= h.maxDigits && h.key.test(k) && h.value.test(v)) return h.type;
  return undefined;
}

/** Cuts to `max` characters without leaving half a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let s = text.slice(0, max);
  const last = s.charCodeAt(s.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) s = s.slice(0, -1);
  return s;
}

/** Characters that end a token: what is left of a value cut in the middle is dropped back to one. */
const TOKEN_END = /[\s"',;:{}()[\]<>&=|]/;
const ASCII_TOKEN_END = new Uint8Array(128);
for (let c = 0; c < 128; c++) ASCII_TOKEN_END[c] = TOKEN_END.test(String.fromCharCode(c)) ? 1 : 0;
const endsToken = (c: number): boolean => (c < 128 ? ASCII_TOKEN_END[c] === 1 : TOKEN_END.test(String.fromCharCode(c)));

/**
 * Where the partial token at the end of `text` starts: the last run of characters that end no
 * token, or a placeholder cut short (`<EMAI`). Reads only that tail, backwards.
 */
export function partialTailStart(text: string): number {
  let i = text.length;
  while (i > 0 && !endsToken(text.charCodeAt(i - 1))) i--;
  if (i > 0 && text.charCodeAt(i - 1) === 60 /* < */) {
    let upper = true;
    for (let j = i; j < text.length && upper; j++) {
      const c = text.charCodeAt(j);
      upper = (c >= 65 && c <= 90) || c === 95;
    }
    if (upper) return i - 1;
  }
  return i;
}

/** The text of a cut output: at most `max` characters, without the partial token at the cut. */
function cutClean(text: string, max: number): string {
  const s = cut(text, max);
  return s.slice(0, partialTailStart(s));
}

/** Media type of a Content-Type header: lower case, without parameters. */
export function mediaType(contentType: string | undefined): string {
  if (!contentType) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** True for JSON media types: application/json, text/json and every `+json` type. */
export function isJsonMediaType(mt: string): boolean {
  return mt === 'application/json' || mt === 'text/json' || mt.endsWith('+json');
}

const isNdjson = (mt: string): boolean => mt === 'application/x-ndjson' || mt === 'application/ndjson' || mt === 'application/jsonl' || mt === 'application/json-seq' || mt === 'application/jsonlines';

/** The first non-space character of `text` opens a JSON object or array. */
function looksLikeJson(text: string): boolean {
  for (let i = 0; i < text.length && i < 1024; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) continue;
    return c === 0x7b || c === 0x5b;
  }
  return false;
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false } {
  // JSON.parse refuses a leading BOM, which would let a BOM hide a JSON body from the JSON walk
  // (and so from a model's mask paths); String trimming counts it as white space.
  const c = text.charCodeAt(0);
  const doc = c === 0x7b || c === 0x5b ? text : text.trimStart();
  try {
    return { ok: true, value: parseJsonBounded(doc) };
  } catch {
    return { ok: false };
  }
}

/** Characters one event may scan, shared by every string of its JSON walk. */
interface ScanBudget {
  left: number;
}

interface Policy {
  max: number;
  maskPaths: readonly string[][];
  secretKey: (key: string) => boolean;
  budgetMs: number;
}

/** Serialises a JSON value with redaction, stopping once `limit` characters are produced. */
class JsonWriter {
  private readonly parts: string[] = [];
  private len = 0;
  constructor(
    private readonly limit: number,
    private readonly counts: Record<string, number>,
    private readonly policy: Policy,
    private readonly maskPaths: readonly string[][],
    private readonly deadline: number,
    private readonly budget: ScanBudget,
    private readonly depth = 0,
  ) {}

  /** True once the event's scan budget ran out: the walk stops, the output is cut there. */
  exhausted = false;

  result(): string {
    return this.parts.join('');
  }

  private push(s: string): void {
    this.parts.push(s);
    this.len += s.length;
  }

  private full(): boolean {
    return this.len > this.limit || this.budget.left <= 0;
  }

  /** What is left to scan of one string: what can still be kept, and the margin. */
  private scanRoom(): number {
    return Math.max(0, this.limit - this.len) + SCAN_MARGIN;
  }

  private pathMasked(path: readonly string[]): boolean {
    return this.maskPaths.some((p) => p.length === path.length && p.every((seg, i) => seg === '*' || seg === path[i]));
  }

  /** A key or string value: detectors, then secret-like pairs inside it (a URL's query, a header). */
  private scan(s: string, pairs = false): string {
    let t = cut(s, this.scanRoom());
    if (t.length > this.budget.left) {
      // Past the budget nothing is scanned, so nothing past it is kept.
      t = cut(t, Math.max(0, this.budget.left));
      this.exhausted = true;
    }
    this.budget.left -= Math.max(t.length, 1);
    const r = redactString(t, this.counts, this.deadline);
    return pairs ? maskPairsInText(r, this.policy.secretKey, this.counts) : r;
  }

  private string(s: string): void {
    // A JSON document sent as a string (a common way to smuggle structure) is redacted as JSON.
    if (this.depth < MAX_NESTED_JSON && s.length <= this.scanRoom() && looksLikeJson(s)) {
      const p = tryParse(s);
      if (p.ok) {
        const inner = new JsonWriter(this.scanRoom(), this.counts, this.policy, this.policy.maskPaths, this.deadline, this.budget, this.depth + 1);
        inner.write(p.value, [], false);
        if (inner.exhausted) this.exhausted = true;
        this.push(JSON.stringify(inner.result()));
        return;
      }
    }
    this.push(JSON.stringify(this.scan(s, true)));
  }

  write(v: unknown, path: string[], masked: boolean): void {
    if (this.full()) return;
    const key = path.length ? path[path.length - 1]! : undefined;
    if (!masked && key !== undefined && (this.policy.secretKey(key) || (this.maskPaths.length && this.pathMasked(path)))) {
      this.counts.MASKED = (this.counts.MASKED ?? 0) + 1;
      masked = true;
    }
    if (v === null || typeof v !== 'object') {
      if (masked) {
        this.push(`"${MASKED}"`);
        return;
      }
      const hint = key !== undefined && (typeof v === 'string' || typeof v === 'number') ? keyHint(key, typeof v === 'number' ? String(Math.abs(v)) : v) : undefined;
      if (hint) {
        this.counts[hint] = (this.counts[hint] ?? 0) + 1;
        this.push(`"<${hint}>"`);
      } else if (typeof v === 'string') this.string(v);
      else if (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) >= 1e6) {
        // A phone or card number sent as a JSON number, of either sign and in any notation:
        // scan the digits of its integer part.
        const digits = BigInt(Math.trunc(Math.abs(v))).toString();
        const r = redactString(digits, this.counts, this.deadline);
        this.push(r === digits ? JSON.stringify(v) : JSON.stringify(r));
      } else this.push(JSON.stringify(v) ?? 'null');
      return;
    }
    if (Array.isArray(v)) {
      this.push('[');
      for (let i = 0; i < v.length && !this.full(); i++) {
        if (i) this.push(',');
        this.write(v[i], [...path, String(i)], masked);
      }
      this.push(']');
      return;
    }
    this.push('{');
    let first = true;
    const seen = new Set<string>();
    for (const k in v as Record<string, unknown>) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      if (this.full()) break;
      if (!first) this.push(',');
      first = false;
      let name = this.scan(k);
      while (name !== k && seen.has(name)) name += '#';
      seen.add(name);
      this.push(`${JSON.stringify(name)}:`);
      this.write((v as Record<string, unknown>)[k], [...path, k], masked);
    }
    this.push('}');
  }
}

/**
 * The text of `body` that redaction can look at. A body that may be JSON (declared so, or whose
 * first byte opens an object or array) is decoded whole, since it must parse whole. Any other
 * body is scanned only up to `scanChars` characters, so only that much of it is decoded: decoding
 * a megabyte of non-ASCII text costs tens of milliseconds, which a hostile client could otherwise
 * make every request pay. `cutShort` says the body went on past what was decoded.
 */
function decodeForScan(body: Buffer | string, declaredJson: boolean, scanChars: number): { s: string; cutShort: boolean } {
  if (typeof body === 'string') return { s: body, cutShort: false };
  // A UTF-16 unit takes at most 3 UTF-8 bytes (4 bytes make 2 units), so this many bytes decode
  // to more than `scanChars` units; the streaming decoder holds back a character cut in half.
  const limit = 3 * scanChars + 8;
  if (body.length <= limit) return { s: body.toString('utf8'), cutShort: false };
  // A document longer than MAX_JSON_PARSE characters is not parsed, so it is scanned as text and
  // needs no more decoded than any other text. ASCII has a byte a character; otherwise a
  // character takes at most 3 bytes, so only a body under 3 times the limit must be decoded to know.
  const mayParse = body.length <= MAX_JSON_PARSE || (body.length <= 3 * MAX_JSON_PARSE && !isAscii(body));
  if (mayParse && (declaredJson || looksLikeJson(body.subarray(0, 1024).toString('utf8')))) {
    return { s: body.toString('utf8'), cutShort: false };
  }
  return { s: new TextDecoder('utf-8').decode(body.subarray(0, limit), { stream: true }), cutShort: true };
}

function isBinary(body: Buffer | string): boolean {
  if (typeof body === 'string') return false;
  const head = body.subarray(0, 1024);
  return head.includes(0);
}

/**
 * Secret-like `"key": "value"`, `key=value` and `key: value` pairs in text (a JSON body too large
 * or too broken to parse, a query string, a header line), the key checked by the key matcher.
 * A `key: value` value runs to the end of its line. Values already replaced by a detector keep
 * their typed placeholder.
 */
export const EQ_PAIR = /(?<![\p{L}\p{N}_-])([\p{L}_][\p{L}\p{N}_.-]{0,60})\s{0,3}=\s{0,3}([^\s&"',;]{1,2000})/gu;
export const COLON_PAIR = /(?<![\p{L}\p{N}_-])([\p{L}_][\p{L}\p{N}_.-]{0,60})\s{0,3}:[ \t]{0,3}([^\s"'<][^\n"'<]{0,1999})(<[A-Z_]+>)?/gu;
const PLACEHOLDER = /<[A-Z_]+>/;
const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Characters (ASCII) a value cannot start with, after `=` and after `:`. */
const REFUSED_AFTER_EQ = new Uint8Array(128);
const REFUSED_AFTER_COLON = new Uint8Array(128);
for (const c of '&"\',;') REFUSED_AFTER_EQ[c.charCodeAt(0)] = 1;
for (const c of '"\'<') REFUSED_AFTER_COLON[c.charCodeAt(0)] = 1;

/** Longest key plus the spaces before its separator in {@link EQ_PAIR} and {@link COLON_PAIR}. */
const PAIR_REACH = 64;
const EQ_PAIR_AT = new RegExp(EQ_PAIR.source, 'uy');
const COLON_PAIR_AT = new RegExp(COLON_PAIR.source, 'uy');

/**
 * `text.replace(re, replace)` for {@link EQ_PAIR} or {@link COLON_PAIR} (given as its sticky form
 * `at`), in time linear in the text: a match's key and the spaces after it are at most
 * {@link PAIR_REACH} characters and hold no `separator`, so a match can only start within that
 * many characters before the next separator, and only those starts are tried. The unanchored
 * scan tried a key at every character and read up to 61 key characters from each (text made of
 * `a.` with one `:` cost about 60 steps a character).
 */
export function replacePairs(text: string, at: RegExp, separator: string, replace: (m: RegExpExecArray) => string): string {
  // Characters a value cannot start with (besides white space): a separator followed by one of
  // them, after the spaces the pattern allows, has no pair.
  const refused = separator === '=' ? REFUSED_AFTER_EQ : REFUSED_AFTER_COLON;
  let out = '';
  let copied = 0;
  let from = 0;
  // A start at or before the previous separator can only end at that one: it was tried then.
  let tried = 0;
  for (let j = text.indexOf(separator); j >= 0; j = text.indexOf(separator, from > j ? from : j + 1)) {
    const first = Math.max(from, j - PAIR_REACH, tried);
    tried = j + 1;
    let v = j + 1;
    let c = text.charCodeAt(v);
    while (v <= j + 3 && (c === 32 || c === 9)) c = text.charCodeAt(++v);
    // NaN past the end: no value.
    if (!(c >= 0) || (c < 128 && refused[c] === 1)) continue;
    for (let s = first; s <= j; s++) {
      // Cheap refusals of what the pattern's first two tests refuse (ASCII only; the rest is the
      // regex's): a key starts with a letter or `_`, after a character that is not a letter,
      // digit, `_` or `-`.
      const c = text.charCodeAt(s);
      if (c < 128 && !isAsciiLetter(c) && c !== 95) continue;
      const b = s > 0 ? text.charCodeAt(s - 1) : 32;
      if (b < 128 && (isAsciiLetter(b) || (b >= 48 && b <= 57) || b === 95 || b === 45)) continue;
      at.lastIndex = s;
      const m = at.exec(text);
      if (!m) continue;
      out += text.slice(copied, m.index) + replace(m);
      copied = from = m.index + m[0].length;
      break;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Longest key a quoted pair is recognised with, and the most white space around its colon. */
const QUOTED_KEY_MAX = 100;
const QUOTED_SPACE_MAX = 20;
/** Escape levels a quoted pair is recognised at: `"k"`, `\\"k\\"` (a document stringified once), ... */
const QUOTED_LEVELS = 5;

/** Backslashes just before `i`, counting at most `max + 1`. */
function backslashesBefore(t: string, i: number, max: number): number {
  let n = 0;
  while (n <= max && i - n - 1 >= 0 && t.charCodeAt(i - n - 1) === 92) n++;
  return n;
}

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * Secret-like `"key": "value"` pairs in text, at any escape level up to {@link QUOTED_LEVELS}: in
 * a JSON document stringified n times, every quote of a pair has 2^n - 1 backslashes before it,
 * so `{"meta": "{\\"password\\": \\"x\\"}"}` that does not parse (or is too large to) still
 * has its inner pair masked. One pass over the quotes: a key is read up to the next quote (at
 * most {@link QUOTED_KEY_MAX} characters), a masked value up to its closing quote or the end of
 * its line, and the value of a key that is not secret is scanned on for pairs inside it (so the
 * values read never overlap, and the pass is linear). A secret key's value is masked unless
 * `keep(value)` says it is already safe (a placeholder); the count of masked pairs comes back.
 */
export function maskQuotedPairs(text: string, secretKey: (key: string) => boolean, keep: (value: string) => boolean): { text: string; masked: number } {
  let out = '';
  let copied = 0;
  let masked = 0;
  for (let q = text.indexOf('"'); q >= 0; q = text.indexOf('"', q + 1)) {
    // The opening quote's backslashes give the level: 0, 1, 3, 7 or 15.
    const run = backslashesBefore(text, q, 2 ** QUOTED_LEVELS);
    if ((run & (run + 1)) !== 0 || run >= 2 ** QUOTED_LEVELS) continue;
    // The key runs to the next quote, which must close it at the same level.
    const k = text.indexOf('"', q + 1);
    if (k < 0) break;
    const keyEnd = k - run;
    if (keyEnd <= q + 1 || keyEnd - (q + 1) > QUOTED_KEY_MAX || backslashesBefore(text, k, run) !== run) continue;
    const key = text.slice(q + 1, keyEnd);
    if (key.includes('\n') || !secretKey(key)) continue;
    // White space, a colon, white space, then the value's opening quote at the same level.
    let p = k + 1;
    for (let n = 0; n < QUOTED_SPACE_MAX && p < text.length && isSpace(text.charCodeAt(p)); n++) p++;
    if (text.charCodeAt(p) !== 58 /* : */) continue;
    p++;
    for (let n = 0; n < QUOTED_SPACE_MAX && p < text.length && isSpace(text.charCodeAt(p)); n++) p++;
    let b = 0;
    while (b < run && text.charCodeAt(p + b) === 92) b++;
    if (b !== run || text.charCodeAt(p + run) !== 34) continue;
    const valueStart = p + run + 1;
    // The value ends at a quote closing it at this level: 2^n - 1 backslashes before it, modulo
    // 2^(n+1) (more are escaped backslashes of the value), or at the end of its line.
    const period = 2 * (run + 1);
    let end = valueStart;
    let close = -1;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (c === 10) break;
      if (c === 34) {
        const r = backslashesBefore(text, end, Infinity);
        if (r % period === run) {
          close = end;
          break;
        }
      }
      end++;
    }
    const valueEnd = close >= 0 ? close - run : end;
    if (keep(text.slice(valueStart, valueEnd))) {
      q = close >= 0 ? close : end;
      continue;
    }
    const bs = '\\'.repeat(run);
    out += `${text.slice(copied, q - run)}${bs}"${key}${bs}": ${bs}"${MASKED}${bs}"`;
    copied = close >= 0 ? close + 1 : end;
    masked++;
    q = copied - 1;
  }
  return { text: copied === 0 ? text : out + text.slice(copied), masked };
}

function maskPairsInText(text: string, secretKey: (k: string) => boolean, counts: Record<string, number>): string {
  if (!text.includes('=') && !text.includes(':')) return text;
  let n = 0;
  const skip = (k: string, val: string) => !secretKey(k) || val === MASKED || PLACEHOLDER.test(val);
  const q = maskQuotedPairs(text, secretKey, (val) => val === MASKED || PLACEHOLDER.test(val));
  const quoted = q.text;
  n += q.masked;
  const eq = replacePairs(quoted, EQ_PAIR_AT, '=', ([m, k, val]) => {
    if (skip(k!, val!)) return m;
    n++;
    return m.slice(0, m.length - val!.length) + MASKED;
  });
  const out = replacePairs(eq, COLON_PAIR_AT, ':', ([m, k, val, placeholder]) => {
    // `Authorization: Bearer <BEARER_TOKEN>`: the scheme before a detected value stays.
    if (skip(k!, val!) || (placeholder && /^[A-Za-z]{1,10}\s+$/.test(val!))) return m;
    n++;
    return m.slice(0, m.length - val!.length - (placeholder?.length ?? 0)) + MASKED + (placeholder ? ` ${placeholder}` : '');
  });
  if (n) counts.MASKED = (counts.MASKED ?? 0) + n;
  return out;
}

/**
 * Text that sets off every detector (and the JSON, key-hint and free-text paths): what
 * {@link warmRedactor} redacts once so the first real event does not pay for compiling them.
 */
const WARM_TEXT = 'mail a.b@example.com or +49 30 1234567, call 0044 20 7946 0958, card 4111 1111 1111 1111, '
  + 'ssn 123-45-6789, iban DE89 3704 0044 0532 0130 00, ip 192.168.10.20 and 2001:db8::8a2e:370:7334, '
  + 'Bearer abcdefghijklmnop1234, key sk-live-0123456789abcdefghijklmnop, '
  + 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIzNDU2Nzg5; Grüße — 日本語, ｍａｉｌ ｘ＠ｅｘａｍｐｌｅ．ｃｏｍ';
const WARM_JSON = JSON.stringify({ text: WARM_TEXT, phone: '+1 415 555 0100', ssn: '123-45-6789', card: '4111111111111111', password: 'hunter2', n: 1, list: [{ email: 'c@d.example.org' }] });

/**
 * Redacts a body of every kind once and throws the result away. A fresh redactor (a new thread,
 * a new process) pays 20 ms or more on its first redaction, to compile the detectors: under load
 * that can exceed `budgetMs` and leave the first event UNSCANNED. Call it at start, before events.
 * Returns what the sample set off (every entity type; a test keeps it so).
 */
export function warmRedactor(r: Redactor): Record<string, number> {
  const seen: Record<string, number> = {};
  const add = (x: Redaction) => { for (const [k, n] of Object.entries(x.counts)) seen[k] = (seen[k] ?? 0) + n; };
  add(r.redact(Buffer.from(WARM_JSON), 'application/json'));
  add(r.redact(Buffer.from(WARM_TEXT), 'text/plain'));
  add(r.redact(Buffer.from(`a=1&email=${encodeURIComponent('e@f.example.net')}`), 'application/x-www-form-urlencoded'));
  return seen;
}

/** Builds a redactor; rejects invalid options at setup. */
export function createRedactor(opts: RedactorOptions): Redactor {
  if (!Number.isSafeInteger(opts.maxChars) || opts.maxChars < 0) throw new Error(`redaction.maxChars must be a non-negative integer, got ${String(opts.maxChars)}`);
  const budgetMs = opts.budgetMs ?? DEFAULT_BUDGET_MS;
  if (!(budgetMs > 0)) throw new Error(`redaction.budgetMs must be positive, got ${String(opts.budgetMs)}`);
  const policy: Policy = {
    max: opts.maxChars,
    maskPaths: (opts.maskPaths ?? []).map((p) => parseMaskPath(p, 'redaction.maskPaths')),
    secretKey: keyMatcher(opts.maskKeys ?? DEFAULT_MASK_KEYS),
    budgetMs,
  };
  const max = opts.maxChars;
  // A model's own mask paths, compiled once per list.
  const compiled = new WeakMap<readonly string[], string[][]>();
  const pathsFor = (extra: readonly string[] | undefined): readonly string[][] => {
    if (!extra || extra.length === 0) return policy.maskPaths;
    let c = compiled.get(extra);
    if (!c) compiled.set(extra, (c = [...policy.maskPaths, ...extra.map((p) => parseMaskPath(p, 'redaction.maskPaths'))]));
    return c;
  };

  const finish = (text: string, counts: Record<string, number>, cutAlready = false): Redaction => {
    const truncated = cutAlready || text.length > max;
    // A string a detector stopped in (rejectAllowance) is already cut where its scan ended.
    if (!truncated) return { text, counts, truncated: counts.TRUNCATED === 1 };
    counts.TRUNCATED = 1;
    return { text: cutClean(text, max), counts, truncated };
  };

  /** Runs `f` within the budget: past it, nothing is kept. */
  const guarded = (f: (deadline: number, counts: Record<string, number>) => Redaction): Redaction => {
    const counts: Record<string, number> = {};
    try {
      return f(performance.now() + budgetMs, counts);
    } catch (err) {
      if (!(err instanceof BudgetExceeded)) throw err;
      return { text: '', counts: { UNSCANNED: 1 }, truncated: true };
    }
  };

  /** Characters one event may scan in all: twice what it can keep, with the margin. */
  const budget = (): ScanBudget => ({ left: 2 * (max + SCAN_MARGIN) });

  const jsonValue = (value: unknown, paths: readonly string[][], deadline: number, counts: Record<string, number>): Redaction => {
    const w = new JsonWriter(max, counts, policy, paths, deadline, budget());
    w.write(value, [], false);
    return finish(w.result(), counts, w.exhausted);
  };

  const text = (s: string, mt: string, paths: readonly string[][], deadline: number, counts: Record<string, number>, triedJson = false, cutShort = false): Redaction => {
    if (!triedJson && !cutShort && s.length <= MAX_JSON_PARSE && looksLikeJson(s)) {
      const p = tryParse(s);
      if (p.ok) return jsonValue(p.value, paths, deadline, counts);
    }
    const scanned = s.length > max + SCAN_MARGIN ? cut(s, max + SCAN_MARGIN) : s;
    const wasCut = cutShort || scanned.length < s.length;
    if (mt === 'application/x-www-form-urlencoded') {
      const dec = (x: string) => { try { return decodeURIComponent(x.replace(/\+/g, ' ')); } catch { return x; } };
      const out = scanned.split('&').map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 0) return redactString(dec(pair), counts, deadline);
        const key = dec(pair.slice(0, eq));
        if (policy.secretKey(key) || (paths.length && paths.some((p) => p.length === 1 && (p[0] === '*' || p[0] === key)))) {
          counts.MASKED = (counts.MASKED ?? 0) + 1;
          return `${redactString(key, counts, deadline)}=${MASKED}`;
        }
        return `${redactString(key, counts, deadline)}=${redactString(dec(pair.slice(eq + 1)), counts, deadline)}`;
      }).join('&');
      return finish(out, counts, wasCut);
    }
    if (isNdjson(mt) || (s.includes('\n') && looksLikeJson(s))) {
      // One JSON document per line: each one that parses is redacted as JSON.
      const lines = scanned.split('\n');
      const shared = budget();
      const out = lines.map((line, i) => {
        const last = i === lines.length - 1 && wasCut;
        if (!last && looksLikeJson(line)) {
          const p = tryParse(line);
          if (p.ok) {
            const w = new JsonWriter(max + SCAN_MARGIN, counts, policy, paths, deadline, shared);
            w.write(p.value, [], false);
            return w.result();
          }
        }
        return maskPairsInText(redactString(line, counts, deadline), policy.secretKey, counts);
      }).join('\n');
      return finish(out, counts, wasCut);
    }
    return finish(maskPairsInText(redactString(scanned, counts, deadline), policy.secretKey, counts), counts, wasCut);
  };

  return {
    redactText: (s, counts) => redactString(s, counts),
    redactValue: (value, extra) => guarded((deadline, counts) => jsonValue(value, pathsFor(extra), deadline, counts)),
    redact(body, contentType, call) {
      const paths = pathsFor(call?.maskPaths);
      if (call?.parsed !== undefined && body.length <= MAX_JSON_PARSE) {
        const parsed = call.parsed;
        return guarded((deadline, counts) => jsonValue(parsed, paths, deadline, counts));
      }
      if (isBinary(body)) return { text: `<BINARY ${body.length} bytes>`, counts: {}, truncated: false };
      const mt = mediaType(contentType);
      const { s, cutShort } = decodeForScan(body, isJsonMediaType(mt), max + SCAN_MARGIN);
      return guarded((deadline, counts) => {
        const declared = isJsonMediaType(mt) && !cutShort && s.length <= MAX_JSON_PARSE;
        if (declared) {
          const p = tryParse(s);
          if (p.ok) return jsonValue(p.value, paths, deadline, counts);
        }
        return text(s, mt, paths, deadline, counts, declared, cutShort);
      });
    },
  };
}
