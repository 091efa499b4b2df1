/**
 * Turns one source message into a `requests` JSONEachRow line or a dead letter. The event schema
 * (services/telemetry/event.ts) is the judge; the reason names every failing field.
 */
import { decodeEvent } from '../telemetry/event.ts';
import { requestCompactLine, requestLine } from '../warehouse/requests.ts';
import type { DeadLetter, SourceMessage } from './source.ts';

/** A decoded message: exactly one of `line` and `dead` is set. */
export interface DecodedItem {
  offset: number;
  value: Buffer | null;
  key?: Buffer | null;
  /** The row line for `requests` (no trailing newline). */
  line?: string;
  /** Event time (ms), for freshness metrics. */
  ts?: number;
  dead?: DeadLetter;
}

const MAX_DETAIL = 1000;

function cap(s: string): string {
  return s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL)}…` : s;
}

/** Decodes `msg` read from `source`/`partition` into a row line in `format`. */
export function decodeMessage(source: string, partition: number, msg: SourceMessage, format: 'JSONCompactEachRow' | 'JSONEachRow'): DecodedItem {
  const base = { offset: msg.offset, value: msg.value, key: msg.key ?? null };
  if (!msg.value || msg.value.length === 0) {
    return { ...base, dead: { source, partition, offset: msg.offset, value: msg.value, key: msg.key ?? null, reason: 'empty', detail: 'empty message' } };
  }
  const r = decodeEvent(msg.value);
  if (!r.ok) {
    const reason = r.reason.startsWith('not JSON') ? 'invalid_json' : 'schema_invalid';
    return { ...base, dead: { source, partition, offset: msg.offset, value: msg.value, key: msg.key ?? null, reason, detail: cap(r.reason) } };
  }
  const ts = r.event.ts;
  const src = { topic: source, partition, offset: msg.offset };
  return { ...base, ts, line: format === 'JSONCompactEachRow' ? requestCompactLine(r.event, src) : requestLine(r.event, src) };
}
