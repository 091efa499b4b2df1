/**
 * PII detectors: one candidate regex per shape, then a validator (checksum, ranges, grouping)
 * that accepts the candidate, narrows it, or rejects it. Order matters: secrets first (their
 * bytes would otherwise look like other things), then e-mails, account and card numbers, SSNs,
 * IP addresses, and phones last (the loosest shapes). A replaced value becomes `<TYPE>`, which
 * holds no digit, so later detectors cannot match inside it.
 *
 * The reference list is Microsoft Presidio's predefined recognizers (email, phone, credit card
 * with Luhn, IBAN with mod-97, US SSN, IP); JWTs, bearer tokens and API keys follow the token
 * formats their issuers document (see docs/telemetry.md).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { IBAN_LENGTHS, MIN_JWT_HEADER, cardPrefixValid, jwtHeaderValid, luhnValid, ssnValid } from './pii-checks.ts';

/** Entity types and their placeholders (`<EMAIL>`, ...). */
export type PiiType = 'JWT' | 'BEARER_TOKEN' | 'API_KEY' | 'EMAIL' | 'IBAN' | 'CREDIT_CARD' | 'US_SSN' | 'IP_ADDRESS' | 'PHONE';

/**
 * A detector: a global candidate regex and an optional validator giving the span to replace, or
 * a scanner of its own. Every detector is linear in the text's size: regex candidates are bounded
 * in length (so moving one character past a rejected candidate costs a bounded amount), and the
 * shapes a backtracking regex cannot bound (JWTs, PEM blocks) have hand-written scanners.
 * Detectors see folded text (text-fold.ts).
 */
export interface Detector {
  type: PiiType;
  re?: RegExp;
  /** Instead of `re`: every span to replace, in order, without overlaps. */
  scan?: (text: string) => Array<[number, number]>;
  /** Cheap test on the whole text; the detector is skipped when false. */
  pre?: (text: string) => boolean;
  /** Returns the [start, end) to replace, or null to reject. Default: the whole match. */
  check?: (m: RegExpExecArray, text: string) => [number, number] | null;
}

const whole = (m: RegExpExecArray): [number, number] => [m.index, m.index + m[0].length];

/** Shapes of digit runs a text holds (bits of {@link digitShapes}). */
export const RUN4 = 1; // a run of 4 or more digits
export const RUN3 = 2; // a run of exactly 3
export const RUN3_SEP = 4; // a run of exactly 3 followed by `-` or a space
export const DOT_DIGITS = 8; // a run followed by `.` and a digit
export const RUN_00 = 16; // a run of 3 or more starting `00`
export const RUN_0 = 32; // a run of 2 or more starting `0`

let shapesOf = '';
let shapes = 0;

/**
 * Which shapes of digit runs `text` holds, in one pass (remembered for the last text). The
 * digit-led detectors need one of them to match at all, so a text without it skips their regex
 * search: V8 searches `\d{4}` through `1:1:1:...` ten times slower than through prose (its quick
 * check takes `:;<=>?` for digits), and six such searches made digit-dense text the costliest.
 */
export function digitShapes(text: string): number {
  if (text === shapesOf) return shapes;
  let found = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 48 || c > 57) continue;
    const start = i;
    do c = text.charCodeAt(++i);
    while (c >= 48 && c <= 57);
    const n = i - start;
    if (n >= 4) found |= RUN4;
    else if (n === 3) found |= c === 45 || c === 32 ? RUN3 | RUN3_SEP : RUN3;
    if (c === 46) {
      const d = text.charCodeAt(i + 1);
      if (d >= 48 && d <= 57) found |= DOT_DIGITS;
    }
    if (n >= 2 && text.charCodeAt(start) === 48) found |= text.charCodeAt(start + 1) === 48 && n >= 3 ? RUN_0 | RUN_00 : RUN_0;
    if (found === 63) break;
  }
  shapesOf = text;
  shapes = found;
  return found;
}
const hasShape = (shape: number) => (t: string): boolean => (digitShapes(t) & shape) !== 0;
const group = (m: RegExpExecArray, i: number): [number, number] => m.indices![i] as [number, number];
const digitsOf = (s: string): string => s.replace(/\D/g, '');
const hasDigit = (t: string): boolean => /\d/.test(t);

const VERSION_BEFORE = /(?:\bv|version|ver\.?|release|build|rev|firmware|fw|os|sdk|api)\s*[:=#]?\s*$/i;

function cardCheck(m: RegExpExecArray): [number, number] | null {
  const raw = m[0];
  const digits = digitsOf(raw);
  if (!cardPrefixValid(digits) || !luhnValid(digits)) return null;
  const seps = raw.match(/[ .-]/g);
  if (seps) {
    if (new Set(seps).size > 1) return null;
    const groups = raw.split(/[ .-]/).map((g) => g.length);
    const last = groups[groups.length - 1]!;
    const fours = groups.slice(0, -1).every((g) => g === 4) && last >= 1 && last <= 4;
    const fourFourFourFourThree = groups.length === 5 && groups.slice(0, 4).every((g) => g === 4) && last === 3;
    const amexDiners = groups.length === 3 && groups[0] === 4 && groups[1] === 6 && (last === 5 || last === 4);
    if (!(fours || fourFourFourFourThree || amexDiners)) return null;
  }
  return whole(m);
}

const B64URL = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') B64URL[c.charCodeAt(0)] = 1;
const isB64 = (t: string, i: number): boolean => {
  const c = t.charCodeAt(i);
  return c < 128 && B64URL[c] === 1;
};
/** Longest JWT header segment looked at (real ones are well under 1 KiB). */
const MAX_JWT_HEADER = 2048;

/** `[A-Za-z0-9_]`: a JWT starts at a word boundary. */
const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/** End of the base64url run starting at `i`. */
function runEnd(t: string, i: number): number {
  while (i < t.length && isB64(t, i)) i++;
  return i;
}

/**
 * JWTs (`header.payload.signature`, base64url), in one pass over the text. Each run of base64url
 * characters followed by a dot is a header candidate at most once: from its last `eyJ` at a word
 * boundary within {@link MAX_JWT_HEADER} characters of the dot, then from its first one there;
 * the header must decode to a JSON object with `alg`. A rejected candidate moves the scan to the
 * next run, so `-eyJ` repeated costs what its length does.
 */
export function jwtSpans(t: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = t.indexOf('eyJ');
  while (i >= 0 && i < t.length) {
    // `i` is the first `eyJ` of its run that the scan has not passed yet.
    const e = runEnd(t, i);
    // The cheap structural test (a payload of 5+ characters and a second dot) goes before the
    // header is decoded and parsed, which costs ~0.2 µs a character.
    // A header shorter than the smallest valid one cannot start anywhere in this run.
    const p = e - i >= MIN_JWT_HEADER && t.charCodeAt(e) === 46 /* . */ ? runEnd(t, e + 1) : -1;
    if (p >= 0 && p - (e + 1) >= 5 && t.charCodeAt(p) === 46) {
      const from = Math.max(i, e - MAX_JWT_HEADER);
      let first = -1;
      let last = -1;
      for (let q = t.indexOf('eyJ', from); q >= 0 && q < e; q = t.indexOf('eyJ', q + 1)) {
        if (q > 0 && isWordChar(t.charCodeAt(q - 1))) continue;
        if (first < 0) first = q;
        last = q;
      }
      const valid = (q: number) => q >= 0 && e - q >= MIN_JWT_HEADER && jwtHeaderValid(t.slice(q, e));
      const header = valid(last) ? last : first !== last && valid(first) ? first : undefined;
      if (header !== undefined) {
        const end = runEnd(t, p + 1);
        out.push([header, end]);
        i = t.indexOf('eyJ', end);
        continue;
      }
    }
    i = t.indexOf('eyJ', e + 1);
  }
  return out;
}

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----/y;
const PEM_END = /-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----/y;

/**
 * PEM private keys, BEGIN line to END line. A key whose END is missing (cut off, or never sent)
 * is replaced to the end of the text: what follows a BEGIN line is key material.
 */
export function pemSpans(t: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = t.indexOf('-----BEGIN ');
  while (i >= 0) {
    PEM_BEGIN.lastIndex = i;
    if (!PEM_BEGIN.test(t)) {
      i = t.indexOf('-----BEGIN ', i + 1);
      continue;
    }
    let j = t.indexOf('-----END ', PEM_BEGIN.lastIndex);
    for (; j >= 0; j = t.indexOf('-----END ', j + 1)) {
      PEM_END.lastIndex = j;
      if (PEM_END.test(t)) break;
    }
    if (j < 0) {
      out.push([i, t.length]);
      break;
    }
    out.push([i, PEM_END.lastIndex]);
    i = t.indexOf('-----BEGIN ', PEM_END.lastIndex);
  }
  return out;
}

const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

function ibanCheck(m: RegExpExecArray, text: string): [number, number] | null {
  const country = m[0].slice(0, 2).toUpperCase();
  const want = IBAN_LENGTHS[country];
  if (!want) return null;
  // Take exactly `want` alphanumerics from the candidate (it may run into the next word),
  // computing ISO 13616's mod 97 as they come: the BBAN first, the first four moved to the end.
  let n = 0;
  let end = m.index;
  let rem = 0;
  while (end < text.length && n < want) {
    const c = text.charCodeAt(end);
    if (isAlnum(c)) {
      if (n >= 4) rem = mod97(rem, c);
      n++;
    } else if (c !== 32 && c !== 45) break;
    end++;
  }
  if (n !== want || (end < text.length && isAlnum(text.charCodeAt(end)))) return null;
  for (let i = 0; i < 4; i++) rem = mod97(rem, m[0].charCodeAt(i));
  return rem === 1 ? [m.index, end] : null;
}

/** One more IBAN character into a running mod 97 (letters count as 10..35, either case). */
function mod97(rem: number, c: number): number {
  if (c <= 57) return (rem * 10 + (c - 48)) % 97;
  return (rem * 100 + ((c | 0x20) - 87)) % 97;
}

function ipv4Check(m: RegExpExecArray, text: string): [number, number] | null {
  if (!isIPv4(m[0])) return null;
  if (VERSION_BEFORE.test(text.slice(Math.max(0, m.index - 12), m.index))) return null;
  return whole(m);
}

function ipv6Check(m: RegExpExecArray): [number, number] | null {
  const s = m[0];
  if (!isIPv6(s) || !/[0-9a-f]/i.test(s)) return null;
  if (!s.includes('::') && s.split(':').length < 8 && !/\d+\.\d+\.\d+\.\d+$/.test(s)) return null;
  return whole(m);
}

function phoneCheck(min: number, max: number) {
  return (m: RegExpExecArray): [number, number] | null => {
    const n = digitsOf(m[0]).length;
    return n >= min && n <= max ? whole(m) : null;
  };
}

/** A JSON key that says what its value is, for values too bare to recognise alone. */
export interface KeyHint {
  /** Matches the key name. */
  key: RegExp;
  type: PiiType;
  /** Matches the whole value (as text). */
  value: RegExp;
  /** Digits the value must hold. */
  minDigits: number;
  maxDigits: number;
}

/** Key hints: a bare number under `phone` is a phone number, under `ssn` an SSN. */
export const KEY_HINTS: readonly KeyHint[] = [
  { key: /phone|mobile|^tel$|telephone|fax|msisdn|whatsapp|^cell/i, type: 'PHONE', value: /^\+?\(?\d[\d ()-]{5,20}\d$/, minDigits: 7, maxDigits: 15 },
  { key: /^ssn$|social_?security/i, type: 'US_SSN', value: /^\d{3}[- ]?\d{2}[- ]?\d{4}$/, minDigits: 9, maxDigits: 9 },
  { key: /^(?:card|card_?number|cc|cc_?number|pan|credit_?card)$/i, type: 'CREDIT_CARD', value: /^\d[\d -]{11,22}\d$/, minDigits: 12, maxDigits: 19 },
];

/** The detectors, in the order they run. */
export const DETECTORS: readonly Detector[] = [
  { type: 'JWT', pre: (t) => t.includes('eyJ'), scan: jwtSpans },
  {
    type: 'BEARER_TOKEN', pre: (t) => /bearer/i.test(t),
    re: /\bBearer\s+([A-Za-z0-9\-._~+/]{8,}=*)/gdi,
    check: (m) => group(m, 1),
  },
  {
    type: 'API_KEY',
    re: new RegExp([
      String.raw`\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`, // AWS access key id
      String.raw`\bgh[pousr]_[A-Za-z0-9]{36,255}\b`, // GitHub tokens
      String.raw`\bgithub_pat_[A-Za-z0-9_]{22,255}\b`, // GitHub fine-grained PAT
      String.raw`\bglpat-[A-Za-z0-9_-]{20,}\b`, // GitLab PAT
      String.raw`\bsk-ant-[A-Za-z0-9_-]{20,}`, // Anthropic
      String.raw`\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}`, // OpenAI
      String.raw`\bxox[abposre]-[A-Za-z0-9-]{10,}`, // Slack tokens
      String.raw`https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}`, // Slack webhook
      String.raw`\bAIza[0-9A-Za-z_-]{35}`, // Google API key
      String.raw`\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}`, // Stripe
      String.raw`\bwhsec_[0-9A-Za-z]{24,}`, // Stripe webhook secret
      String.raw`\bhf_[A-Za-z0-9]{30,}\b`, // Hugging Face
      String.raw`\bnpm_[A-Za-z0-9]{36}\b`, // npm
      String.raw`\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b`, // SendGrid
      String.raw`\bgsk_[A-Za-z0-9]{40,}\b`, // Groq
      String.raw`\b(?:aws_?secret_?access_?key|aws_?secret)["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])`, // AWS secret (by name)
    ].join('|'), 'g'),
  },
  { type: 'API_KEY', pre: (t) => t.includes('-----BEGIN'), scan: pemSpans },
  {
    type: 'EMAIL', pre: (t) => t.includes('@') || t.includes('%40'),
    re: /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}_%+-]+(?:\.[\p{L}\p{N}_%+-]+)*(?:@|%40)[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}(?![\p{L}\p{N}-])/gu,
  },
  {
    type: 'IBAN', pre: hasDigit,
    // The check reads the IBAN's length for its country from the text itself.
    re: /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?=(?:[ -]?[A-Za-z0-9]){11})/g,
    check: ibanCheck,
  },
  {
    type: 'CREDIT_CARD', pre: hasShape(RUN4),
    // Only the groupings cards are printed in (4-4-4[-4[-1..3]], 4-4-4-1..4, 4-6-4/5, or none),
    // so a candidate fails at its first wrong group instead of after 19 digits.
    re: /(?<![\w.,+/-])(?:\d{4}([ .-])\d{4}\1\d{4}(?:\1\d{4}(?:\1\d{1,3})?|\1\d{1,4})?|\d{4}([ .-])\d{6}\2\d{4,5}|\d{12,19})(?![\w]|[.,/-]\d)/g,
    check: cardCheck,
  },
  {
    type: 'US_SSN', pre: hasShape(RUN3_SEP),
    re: /(?<![\w.-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-]|[.,]\d)/g,
    check: (m) => (ssnValid(m[1]!, m[3]!, m[4]!) ? whole(m) : null),
  },
  {
    type: 'US_SSN', pre: (t) => /ssn|social security/i.test(t),
    re: /\b(?:ssn|social security(?: number| no\.?)?)\W{0,5}(\d{9})\b/gdi,
    check: (m) => (ssnValid(m[1]!.slice(0, 3), m[1]!.slice(3, 5), m[1]!.slice(5)) ? group(m, 1) : null),
  },
  {
    type: 'IP_ADDRESS', pre: (t) => /::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:/.test(t),
    re: /(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){1,7}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)/g,
    check: ipv6Check,
  },
  {
    type: 'IP_ADDRESS', pre: hasShape(DOT_DIGITS),
    re: /(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)/g,
    check: ipv4Check,
  },
  {
    // International: +CC then groups (E.164 allows at most 15 digits).
    type: 'PHONE', pre: (t) => t.includes('+'),
    re: /(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,5}){1,6}(?![\w]|[.,-]?\d)/g,
    check: phoneCheck(8, 15),
  },
  {
    // International with the 00 prefix, separated groups.
    type: 'PHONE', pre: hasShape(RUN_00),
    re: /(?<![\w+.]|\d[ -])00[1-9]\d{0,2}(?:[ .-]\(?\d{1,5}\)?){2,6}(?![\w]|[.,-]?\d)/g,
    check: phoneCheck(10, 17),
  },
  {
    // North American: (555) 555-5555, 555-555-5555, 555.555.5555, 1-555-555-5555.
    type: 'PHONE', pre: hasShape(RUN3),
    re: /(?<![\w+.-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?[2-9]\d{2}[ .-]\d{4}|[2-9]\d{2}([ .-])[2-9]\d{2}\1\d{4})(?![\w-]|[.,]\d)/g,
  },
  {
    // National formats with a trunk 0: 020 7946 0958, 01 23 45 67 89, 030 12345678.
    type: 'PHONE', pre: hasShape(RUN_0),
    re: /(?<![\w+.-]|\d[ -])0[1-9]\d{0,3}(?:[ -]\d{2,8}){1,4}(?![\w-]|[.,]\d)/g,
    // Dash-grouped short numbers are more often part numbers than phones: dashes need 10+ digits.
    check: (m) => {
      const seps = new Set(m[0].match(/[ -]/g));
      if (seps.size > 1) return null;
      return phoneCheck(seps.has('-') ? 10 : 9, 11)(m);
    },
  },
  {
    // Any number introduced as a phone number.
    type: 'PHONE', pre: (t) => /phone|tel|mobile|cell|call|fax|whatsapp|sms|text me/i.test(t),
    re: /\b(?:phone|tel(?:ephone)?|mobile|cell(?:phone)?|call(?: me)?(?: at| on)?|fax|whatsapp|sms|text me(?: at| on)?)\b[^\p{L}\p{N}+\n]{0,10}(?:(?:no|number|nr|num)\.?[^\p{L}\p{N}+\n]{0,5})?(\+?\(?\d[\d ().-]{5,20}\d)(?![\w]|[.,-]\d)/gdiu,
    check: (m) => {
      const n = digitsOf(m[1]!).length;
      return n >= 7 && n <= 15 ? group(m, 1) : null;
    },
  },
];
