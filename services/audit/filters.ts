/**
 * Validation of every value an audit caller gives (CLI option, HTTP query parameter or body):
 * ids and hashes by their exact shapes, enums by their members, filters by name (an unknown
 * field is an error that names it and lists the known ones). What comes out is typed and safe
 * to bind as a query parameter; nothing here ever becomes SQL text.
 */
import { OUTCOMES, ROLES } from '../telemetry/event.ts';
import { AuditErrors } from './errors.ts';
import { parseTimeRange, type TimeRange, type TimeRangeOptions } from './time-range.ts';

const HEX64 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TRACE = /^[0-9a-f]{32}$/;

/** Raw caller input: field name to text (or a list when an HTTP parameter was repeated). */
export type RawInput = Readonly<Record<string, unknown>>;

function show(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** The single text value of `field`, or undefined. Lists (repeated parameters) and non-text are errors. */
export function textOf(input: RawInput, field: string): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) throw AuditErrors.badFilter(`${field} is given ${v.length} times; give it once`, { details: { field } });
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') throw AuditErrors.badFilter(`${field} must be text, got ${show(v)}`, { details: { field } });
  return v;
}

/** A 64-hex keyed hash (input hash, selector hash). Upper case is accepted and lowered. */
export function parseHash(text: unknown, field = 'input_hash'): string {
  const s = typeof text === 'string' ? text.trim().toLowerCase() : '';
  if (!HEX64.test(s)) throw AuditErrors.badFilter(`${field}: ${show(text)} is not a hash: expected 64 hex characters`, { details: { field } });
  return s;
}

/** A UUID in canonical text form (event ids are UUIDv7). */
export function parseUuid(text: unknown, field = 'event_id'): string {
  const s = typeof text === 'string' ? text.trim().toLowerCase() : '';
  if (!UUID.test(s)) throw AuditErrors.badFilter(`${field}: ${show(text)} is not a UUID (expected 8-4-4-4-12 hex digits)`, { details: { field } });
  return s;
}

/** A W3C trace id: 32 hex characters, not all zero. */
export function parseTraceId(text: unknown, field = 'trace_id'): string {
  const s = typeof text === 'string' ? text.trim().toLowerCase() : '';
  if (!TRACE.test(s) || /^0+$/.test(s)) throw AuditErrors.badFilter(`${field}: ${show(text)} is not a trace id: expected 32 hex characters`, { details: { field } });
  return s;
}

const hasControl = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** A free-text id (consumer, model, rollout, actor…): 1 to 200 characters, no control characters. */
export function parseName(text: unknown, field: string): string {
  if (typeof text !== 'string' || text.length === 0 || text.length > 200 || hasControl(text)) {
    throw AuditErrors.badFilter(`${field}: ${show(text)} must be 1 to 200 characters without control characters`, { details: { field } });
  }
  return text;
}

function parseEnum<T extends string>(values: readonly T[], text: unknown, field: string): T {
  if (typeof text !== 'string' || !(values as readonly string[]).includes(text)) {
    throw AuditErrors.badFilter(`${field}: ${show(text)} is not one of ${values.join(', ')}`, { details: { field } });
  }
  return text as T;
}

/** A whole number in [min, max]. */
export function parseInteger(text: unknown, field: string, min: number, max: number): number {
  const s = typeof text === 'number' ? String(text) : typeof text === 'string' ? text.trim() : '';
  const n = /^\d{1,15}$/.test(s) ? Number(s) : NaN;
  if (!(n >= min && n <= max)) throw AuditErrors.badFilter(`${field}: ${show(text)} must be a whole number from ${min} to ${max}`, { details: { field } });
  return n;
}

/** One equality condition on a column: the column is a constant of this module, the value a parameter. */
export interface Condition {
  readonly column: string;
  /** ClickHouse type of the bound parameter. */
  readonly type: 'String' | 'UInt16';
  readonly value: string | number;
}

/** Request filter fields: caller name → column, type and validator. */
const REQUEST_FIELDS: Readonly<Record<string, { column: string; type: Condition['type']; parse: (v: string, f: string) => string | number }>> = {
  consumer: { column: 'consumer_id', type: 'String', parse: parseName },
  model: { column: 'model', type: 'String', parse: parseName },
  version: { column: 'version', type: 'String', parse: parseName },
  role: { column: 'role', type: 'String', parse: (v, f) => parseEnum(ROLES, v, f) },
  outcome: { column: 'outcome', type: 'String', parse: (v, f) => parseEnum(OUTCOMES, v, f) },
  rollout: { column: 'rollout_id', type: 'String', parse: parseName },
  gateway: { column: 'gateway_id', type: 'String', parse: parseName },
  status: { column: 'status', type: 'UInt16', parse: (v, f) => parseInteger(v, f, 0, 999) },
};

/** Names a requests filter accepts. */
export const REQUEST_FILTER_FIELDS: readonly string[] = [...Object.keys(REQUEST_FIELDS), 'from', 'to'];

/** A validated filter on `requests`. */
export interface RequestFilter {
  readonly conditions: readonly Condition[];
  readonly range: TimeRange;
}

/** Fails naming the first field of `input` not in `allowed`. */
export function rejectUnknown(input: RawInput, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) {
      throw AuditErrors.badFilter(`unknown ${what} field ${JSON.stringify(key)}; known fields: ${allowed.join(', ')}`, { details: { field: key } });
    }
  }
}

/** Validates a requests filter (`extra` names fields the caller handles itself, e.g. limit and cursor). */
export function parseRequestFilter(input: RawInput, range: TimeRangeOptions, extra: readonly string[] = []): RequestFilter {
  rejectUnknown(input, [...REQUEST_FILTER_FIELDS, ...extra], 'filter');
  const conditions: Condition[] = [];
  for (const [field, spec] of Object.entries(REQUEST_FIELDS)) {
    const text = textOf(input, field);
    if (text === undefined) continue;
    conditions.push({ column: spec.column, type: spec.type, value: spec.parse(text, field) });
  }
  return { conditions, range: parseTimeRange({ from: textOf(input, 'from'), to: textOf(input, 'to') }, range) };
}

/** Summary dimensions: caller name → column. */
export const SUMMARY_DIMENSIONS: Readonly<Record<string, string>> = {
  consumer: 'consumer_id', model: 'model', version: 'version', role: 'role', outcome: 'outcome', rollout: 'rollout_id',
  gateway: 'gateway_id', status: 'status', day: "toDate(ts, 'UTC')", hour: "toStartOfHour(ts, 'UTC')",
};

/** Parses `consumer,model` into summary dimensions (at least one, each known, none twice). */
export function parseDimensions(text: string | undefined): string[] {
  const names = (text ?? 'consumer,model,version,outcome').split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw AuditErrors.badFilter('by: name at least one dimension', { details: { field: 'by' } });
  for (const n of names) {
    if (!(n in SUMMARY_DIMENSIONS)) throw AuditErrors.badFilter(`by: unknown dimension ${JSON.stringify(n)}; known: ${Object.keys(SUMMARY_DIMENSIONS).join(', ')}`, { details: { field: 'by' } });
  }
  if (new Set(names).size !== names.length) throw AuditErrors.badFilter('by: a dimension is named twice', { details: { field: 'by' } });
  return names;
}
