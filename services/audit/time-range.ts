/**
 * Time ranges of audit queries. A bound is an ISO 8601 date or date-time (a date-time without a
 * zone is UTC), epoch milliseconds (13 digits), `now`, or a time relative to now (`now-15m`,
 * `now-24h`, `-7d`, `-2w`; on a command line write `--from now-7d` or `--from=-7d`). A range is half-open, [from, to), must not be empty or reversed,
 * and may not exceed the configured span. Pure: the caller passes `now`.
 */
import { AuditErrors } from './errors.ts';

/** A validated half-open range in ms since the epoch. */
export interface TimeRange {
  readonly fromMs: number;
  readonly toMs: number;
}

/** Options of {@link parseTimeRange}. */
export interface TimeRangeOptions {
  /** Current time (ms). */
  now: number;
  /** Span used when a bound is missing (from = to - span, or to = from + span capped at now). */
  defaultSpanMs: number;
  /** Longest allowed span. */
  maxSpanMs: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** Earliest instant accepted (DateTime64 holds 1900-2299; audit data is recent). */
export const MIN_MS = Date.UTC(2000, 0, 1);
/** First instant past the accepted ones. */
export const MAX_MS = Date.UTC(2200, 0, 1);
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const RELATIVE = /^(?:now)?-(\d{1,9})([smhdw])$/;

const FORMS = 'expected an ISO 8601 date or date-time (2024-05-01, 2024-05-01T12:00:00Z), epoch ms (13 digits), now, or a relative time (now-15m, now-24h, now-7d)';

function bad(field: string, text: string, why = FORMS): never {
  throw AuditErrors.badTimeRange(`${field}: cannot use ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)}: ${why}`, { details: { field } });
}

function checkedUtc(field: string, text: string, parts: number[]): number {
  const [y, mo, d, h = 0, mi = 0, s = 0, ms = 0] = parts as [number, number, number, number?, number?, number?, number?];
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(t);
  const same = back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d &&
    back.getUTCHours() === h && back.getUTCMinutes() === mi && back.getUTCSeconds() === s;
  if (!same) bad(field, text, 'not a real calendar date or time');
  return t;
}

/** Parses one bound. @throws MLG_AUD_BAD_TIME_RANGE naming `field` and the accepted forms. */
export function parseTime(text: string, now: number, field = 'time'): number {
  if (typeof text !== 'string') bad(field, String(text));
  const s = text.trim();
  let t: number;
  let m: RegExpExecArray | null;
  if (s === 'now') t = now;
  else if ((m = RELATIVE.exec(s))) t = now - Number(m[1]) * UNIT_MS[m[2]!]!;
  else if (/^\d{13}$/.test(s)) t = Number(s);
  else if ((m = DATE.exec(s))) t = checkedUtc(field, s, [Number(m[1]), Number(m[2]), Number(m[3])]);
  else if ((m = DATETIME.exec(s))) {
    const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
    t = checkedUtc(field, s, [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), ms]);
    const zone = m[8];
    if (zone && zone.toUpperCase() !== 'Z') {
      const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
      const offset = (Number(z[2]) * 60 + Number(z[3])) * 60_000;
      if (Number(z[2]) > 14 || Number(z[3]) > 59) bad(field, s, 'the zone offset is out of range');
      t -= z[1] === '+' ? offset : -offset;
    }
  } else bad(field, s);
  if (!(t >= MIN_MS && t < MAX_MS)) bad(field, s, 'outside 2000-01-01 .. 2199-12-31');
  return t;
}

function span(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} hours` : `${ms} ms`;
}

/**
 * Parses a range. Missing both bounds: the last `defaultSpanMs`. Only `from`: up to now (an
 * empty-looking range when from is in the future). Only `to`: `defaultSpanMs` before it.
 * @throws MLG_AUD_BAD_TIME_RANGE for a bad bound, from >= to, or a span over the maximum.
 */
export function parseTimeRange(input: { from?: string | undefined; to?: string | undefined }, opts: TimeRangeOptions): TimeRange {
  const has = (v: string | undefined): v is string => v !== undefined && v !== '';
  let toMs = has(input.to) ? parseTime(input.to, opts.now, 'to') : undefined;
  let fromMs = has(input.from) ? parseTime(input.from, opts.now, 'from') : undefined;
  if (fromMs === undefined && toMs === undefined) toMs = opts.now;
  if (fromMs === undefined) fromMs = toMs! - opts.defaultSpanMs;
  if (toMs === undefined) toMs = Math.max(opts.now, fromMs + 1);
  if (fromMs >= toMs) {
    throw AuditErrors.badTimeRange(`from (${new Date(fromMs).toISOString()}) must be before to (${new Date(toMs).toISOString()})`, { details: { field: 'from' } });
  }
  if (toMs - fromMs > opts.maxSpanMs) {
    throw AuditErrors.badTimeRange(`the range ${new Date(fromMs).toISOString()} .. ${new Date(toMs).toISOString()} spans more than the maximum of ${span(opts.maxSpanMs)}`, { details: { field: 'to' } });
  }
  return { fromMs, toMs };
}
