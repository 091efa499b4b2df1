/**
 * Redaction: raw PII never leaves the gateway process. Runs before the event is built.
 * API contract (used by the gateway): `createRedactor(options).redact(body, contentType)`.
 *
 * - JSON keeps its shape: every string value (and key) is scanned, values at configured paths
 *   and under sensitive key names become `<MASKED>`, and the result is serialised only up to
 *   `maxChars` (the walk stops there, so a large body costs what is kept, not what was sent).
 * - Form bodies (`application/x-www-form-urlencoded`) are decoded, scanned per value, re-joined.
 * - Other text is scanned whole; text past `maxChars` + 4096 characters is not scanned because
 *   it is cut anyway (the margin covers a value that straddles the cut, e.g. a long JWT).
 * - Binary bodies (NUL bytes) become `<BINARY n bytes>`.
 * Each replaced value becomes a typed placeholder (`<EMAIL>`, `<PHONE>`, ...; see
 * pii-detectors.ts) and is counted per type in `counts`.
 */
import { DETECTORS, KEY_HINTS, type Detector } from './pii-detectors.ts';

/** Options of {@link createRedactor}. */
export interface RedactorOptions {
  /** Maximum length of `text` in the result (characters); longer output is truncated. */
  maxChars: number;
  /** JSON paths (dot form, `*` for any key or index, e.g. `user.ssn`, `messages.*.content`) always masked. */
  maskPaths?: readonly string[];
  /** JSON keys whose values are always masked, compared without case, `-` or `_`. Default {@link DEFAULT_MASK_KEYS}; `[]` turns it off. */
  maskKeys?: readonly string[];
}

/** Result of redacting one payload. */
export interface Redaction {
  /** Redacted (and possibly truncated) text; JSON keeps its shape. */
  text: string;
  /** Replacements per entity type, e.g. `{ EMAIL: 2 }`. */
  counts: Record<string, number>;
  /** True when `text` was cut to `maxChars`. */
  truncated: boolean;
}

/** Redacts payloads. */
export interface Redactor {
  /**
   * Redacts a request or response body. JSON bodies keep their shape; other text is scanned whole.
   * `parsed`, when the caller already parsed the body, is used instead of parsing it again.
   */
  redact(body: Buffer | string, contentType?: string, parsed?: unknown): Redaction;
  /** Redacts a free-text string, adding to `counts`. */
  redactText(text: string, counts: Record<string, number>): string;
  /**
   * Redacts an already-parsed JSON body: the same result as `redact` of its text with a JSON
   * content type, without parsing it again.
   */
  redactValue(value: unknown): Redaction;
}

/** Key names whose values are secrets by definition. */
export const DEFAULT_MASK_KEYS: readonly string[] = Object.freeze([
  'password', 'passwd', 'pwd', 'passphrase', 'secret', 'clientsecret', 'apikey', 'xapikey', 'accesstoken',
  'refreshtoken', 'idtoken', 'authorization', 'privatekey', 'cookie', 'setcookie', 'creditcard', 'cvv', 'cvc', 'pin',
]);

/** Text beyond maxChars that is still scanned, so a value straddling the cut is caught whole. */
const SCAN_MARGIN = 4096;
/** Bodies above this are scanned as text (pre-cut) instead of parsed as JSON. */
const MAX_JSON_PARSE = 1024 * 1024;
const MASKED = '<MASKED>';

function applyDetector(d: Detector, text: string, counts: Record<string, number>): string {
  const re = d.re;
  re.lastIndex = 0;
  let parts: string[] | undefined;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const span = d.check ? d.check(m, text) : ([m.index, m.index + m[0].length] as [number, number]);
    if (!span || span[0] < last) {
      re.lastIndex = m.index + 1;
      continue;
    }
    (parts ??= []).push(text.slice(last, span[0]), `<${d.type}>`);
    last = span[1];
    counts[d.type] = (counts[d.type] ?? 0) + 1;
    re.lastIndex = Math.max(span[1], m.index + 1);
  }
  if (!parts) return text;
  parts.push(text.slice(last));
  return parts.join('');
}

/** Replaces every detected entity in `text` with its placeholder, counting per type. */
export function redactString(text: string, counts: Record<string, number>): string {
  if (text.length < 6) return text;
  let out = text;
  for (const d of DETECTORS) {
    if (d.pre && !d.pre(out)) continue;
    out = applyDetector(d, out, counts);
  }
  return out;
}

function keyHint(key: string, value: string): string | undefined {
  if (value.length < 7 || value.length > 30) return undefined;
  const digits = value.replace(/\D/g, '').length;
  for (const h of KEY_HINTS) if (digits >= h.minDigits && digits <= h.maxDigits && h.key.test(key) && h.value.test(value)) return h.type;
  return undefined;
}

const normKey = (k: string): string => k.toLowerCase().replace(/[-_\s]/g, '');

/** Cuts to `max` characters without leaving half a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let s = text.slice(0, max);
  const last = s.charCodeAt(s.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) s = s.slice(0, -1);
  return s;
}

/** Serialises a JSON value with redaction, stopping once `limit` characters are produced. */
class JsonWriter {
  private readonly parts: string[] = [];
  private len = 0;
  constructor(
    private readonly limit: number,
    private readonly counts: Record<string, number>,
    private readonly maskPaths: readonly string[][],
    private readonly maskKeys: ReadonlySet<string>,
  ) {}

  result(): string {
    return this.parts.join('');
  }

  private push(s: string): void {
    this.parts.push(s);
    this.len += s.length;
  }

  private full(): boolean {
    return this.len > this.limit;
  }

  private pathMasked(path: readonly string[]): boolean {
    return this.maskPaths.some((p) => p.length === path.length && p.every((seg, i) => seg === '*' || seg === path[i]));
  }

  write(v: unknown, path: string[], masked: boolean): void {
    if (this.full()) return;
    if (!masked && path.length && (this.maskKeys.has(normKey(path[path.length - 1]!)) || (this.maskPaths.length && this.pathMasked(path)))) {
      this.counts.MASKED = (this.counts.MASKED ?? 0) + 1;
      masked = true;
    }
    if (v === null || typeof v !== 'object') {
      const hint = !masked && (typeof v === 'string' || typeof v === 'number') && path.length ? keyHint(path[path.length - 1]!, String(v)) : undefined;
      if (masked) this.push(`"${MASKED}"`);
      else if (hint) {
        this.counts[hint] = (this.counts[hint] ?? 0) + 1;
        this.push(`"<${hint}>"`);
      }
      else if (typeof v === 'string') this.push(JSON.stringify(redactString(v, this.counts)));
      else if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) >= 1e6) {
        // A phone or card number sent as a JSON number: scan its digits too.
        const s = String(v);
        const r = redactString(s, this.counts);
        this.push(r === s ? s : JSON.stringify(r));
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
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (this.full()) break;
      if (!first) this.push(',');
      first = false;
      let key = redactString(k, this.counts);
      while (key !== k && seen.has(key)) key += '#';
      seen.add(key);
      this.push(`${JSON.stringify(key)}:`);
      this.write(val, [...path, k], masked);
    }
    this.push('}');
  }
}

function isBinary(body: Buffer | string): boolean {
  if (typeof body === 'string') return false;
  const head = body.subarray(0, 1024);
  return head.includes(0);
}

/** Builds a redactor; rejects invalid options at setup. */
export function createRedactor(opts: RedactorOptions): Redactor {
  if (!Number.isSafeInteger(opts.maxChars) || opts.maxChars < 0) throw new Error(`redaction.maxChars must be a non-negative integer, got ${String(opts.maxChars)}`);
  const maskPaths = (opts.maskPaths ?? []).map((p) => {
    if (typeof p !== 'string' || !p || p.split('.').some((s) => !s)) throw new Error(`redaction.maskPaths: invalid path ${JSON.stringify(p)} (dot form, e.g. user.ssn or messages.*.content)`);
    return p.split('.');
  });
  const maskKeys = new Set((opts.maskKeys ?? DEFAULT_MASK_KEYS).map(normKey));
  const max = opts.maxChars;

  const finish = (text: string, counts: Record<string, number>, cutAlready = false): Redaction => {
    const truncated = cutAlready || text.length > max;
    return { text: cut(text, max), counts, truncated };
  };

  const redactValue = (value: unknown): Redaction => {
    const counts: Record<string, number> = {};
    const w = new JsonWriter(max, counts, maskPaths, maskKeys);
    w.write(value, [], false);
    return finish(w.result(), counts);
  };

  return {
    redactText: redactString,
    redactValue,
    redact(body, contentType, parsed) {
      const ct = contentType?.toLowerCase() ?? '';
      const jsonType = ct.includes('json') && !ct.includes('ndjson');
      // A parsed body holds no NUL byte (JSON cannot), and its bytes bound its characters.
      if (parsed !== undefined && jsonType && body.length <= MAX_JSON_PARSE) return redactValue(parsed);
      const counts: Record<string, number> = {};
      if (isBinary(body)) return { text: `<BINARY ${body.length} bytes>`, counts, truncated: false };
      const text = typeof body === 'string' ? body : body.toString('utf8');
      const first = text.trimStart()[0];
      if ((jsonType || (!ct && (first === '{' || first === '['))) && text.length <= MAX_JSON_PARSE) {
        let value: unknown;
        let parsed = true;
        try {
          value = JSON.parse(text);
        } catch {
          parsed = false;
        }
        if (parsed) return redactValue(value);
      }
      const scanned = text.length > max + SCAN_MARGIN ? cut(text, max + SCAN_MARGIN) : text;
      if (ct.includes('x-www-form-urlencoded')) {
        const out = scanned.split('&').map((pair) => {
          const eq = pair.indexOf('=');
          const dec = (s: string) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
          if (eq < 0) return redactString(dec(pair), counts);
          const key = dec(pair.slice(0, eq));
          if (maskKeys.has(normKey(key))) {
            counts.MASKED = (counts.MASKED ?? 0) + 1;
            return `${redactString(key, counts)}=${MASKED}`;
          }
          return `${redactString(key, counts)}=${redactString(dec(pair.slice(eq + 1)), counts)}`;
        }).join('&');
        return finish(out, counts, scanned.length < text.length);
      }
      return finish(redactString(scanned, counts), counts, scanned.length < text.length);
    },
  };
}
