/**
 * Turns one source message into a `requests` row line or a dead letter. The event schema
 * (services/telemetry/event.ts) is the judge; the reason names every failing field.
 */
import { requestCompactLine, requestLine } from '../warehouse/request-rows.ts';
import type { DeadLetter, SourceMessage } from './source.ts';
import { createEventDecoder } from './validate.ts';

/** A decoded message: exactly one of `line` and `dead` is set. */
export interface DecodedItem {
  offset: number;
  value: Buffer | null;
  key?: Buffer | null;
  /** The row line for `requests` (no trailing newline). */
  line?: string;
  /** Event time (ms), for freshness metrics. */
  ts?: number;
  /** The event's id (part of the batch's deduplication token). */
  id?: string;
  /** The event's consumer id (as stored in `requests.consumer_id`), for erasures by consumer. */
  consumer?: string;
  /** The event's input hash ('' when none), for erasures by input hash. */
  inputHash?: string;
  dead?: DeadLetter;
}

/** Decodes one message read from `source`/`partition`. */
export type MessageDecoder = (source: string, partition: number, msg: SourceMessage) => DecodedItem;

const MAX_DETAIL = 1000;

function cap(s: string): string {
  return s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL)}…` : s;
}

/** A decoder producing row lines in `format`. */
export function createMessageDecoder(format: 'JSONCompactEachRow' | 'JSONEachRow'): MessageDecoder {
  const decodeEvent = createEventDecoder();
  const toLine = format === 'JSONCompactEachRow' ? requestCompactLine : requestLine;
  return (source, partition, msg) => {
    const key = msg.key ?? null;
    if (!msg.value || msg.value.length === 0) {
      const dead: DeadLetter = { source, partition, offset: msg.offset, value: msg.value, key, reason: 'empty', detail: 'empty message' };
      return { offset: msg.offset, value: msg.value, key, dead };
    }
    const r = decodeEvent(msg.value);
    if (!r.ok) {
      const reason = r.reason.startsWith('not JSON') ? 'invalid_json' : 'schema_invalid';
      return { offset: msg.offset, value: msg.value, key, dead: { source, partition, offset: msg.offset, value: msg.value, key, reason, detail: cap(r.reason) } };
    }
    const { ts, event_id: id, consumer_id: consumer, input_hash: inputHash } = r.event;
    return { offset: msg.offset, value: msg.value, key, ts, id, consumer, inputHash, line: toLine(r.event, { topic: source, partition, offset: msg.offset }) };
  };
}
