/**
 * Redaction: raw PII never leaves the gateway process. Runs before the event is built.
 * API contract (used by the gateway): `createRedactor(options).redact(body, contentType)`.
 *
 * NOTE: this first version detects e-mail addresses only; the telemetry work replaces the
 * detectors (phones, cards, IBANs, SSNs, IPs, JWTs, tokens, API keys, configured paths).
 */

/** Options of {@link createRedactor}. */
export interface RedactorOptions {
  /** Maximum length of `text` in the result (characters); longer output is truncated. */
  maxChars: number;
  /** JSON paths (dot form, `*` for any key or index, e.g. `user.ssn`, `messages.*.content`) always masked. */
  maskPaths?: readonly string[];
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
  /** Redacts a request or response body. JSON bodies keep their shape; other text is scanned whole. */
  redact(body: Buffer | string, contentType?: string): Redaction;
  /** Redacts a free-text string, adding to `counts`. */
  redactText(text: string, counts: Record<string, number>): string;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

/** Builds a redactor. */
export function createRedactor(opts: RedactorOptions): Redactor {
  const redactText = (text: string, counts: Record<string, number>): string =>
    text.replace(EMAIL, () => {
      counts.EMAIL = (counts.EMAIL ?? 0) + 1;
      return '<EMAIL>';
    });
  return {
    redactText,
    redact(body) {
      const counts: Record<string, number> = {};
      let text = redactText(typeof body === 'string' ? body : body.toString('utf8'), counts);
      const truncated = text.length > opts.maxChars;
      if (truncated) text = text.slice(0, opts.maxChars);
      return { text, counts, truncated };
    },
  };
}
