/**
 * The bounded in-memory queue between requests and a sink's transport, and the encoded form of
 * an event. Encoding happens at emit time so the queue holds immutable bytes (the caller may
 * reuse its object) and its size in bytes is known.
 */
import type { TelemetryEvent } from './event.ts';

/** An event ready for the transport. */
export interface EncodedEvent {
  /** Message key: the event_id (see docs/telemetry.md "Message key"). */
  key: string;
  /** The event as UTF-8 JSON. */
  value: Buffer;
}

/** Encodes an event for Kafka and the local log. Throws if the event cannot be serialised. */
export function encodeEvent(event: TelemetryEvent): EncodedEvent {
  return { key: event.event_id, value: Buffer.from(JSON.stringify(event)) };
}

const EVENT_ID = /"event_id":"([^"\\]{1,64})"/;

/** Rebuilds the key of an event read back from the local log (spill replay). */
export function keyOf(value: Buffer): string {
  const m = EVENT_ID.exec(value.toString('latin1', 0, Math.min(value.length, 4096)));
  if (m) return m[1]!;
  try {
    const id = (JSON.parse(value.toString('utf8')) as { event_id?: unknown }).event_id;
    return typeof id === 'string' ? id : '';
  } catch {
    return '';
  }
}

/** FIFO of encoded events with O(1) amortised push and batch take. */
export class EventQueue {
  private items: EncodedEvent[] = [];
  /** Time (ms) each item was queued, parallel to `items`. */
  private times: number[] = [];
  private head = 0;
  private bytesQueued = 0;

  /** Time (ms) the oldest waiting event was queued; 0 when empty. */
  get oldestAt(): number {
    return this.head < this.items.length ? this.times[this.head]! : 0;
  }

  /** Events waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.bytesQueued;
  }

  push(e: EncodedEvent): void {
    this.items.push(e);
    this.times.push(Date.now());
    this.bytesQueued += e.value.length;
  }

  /** Removes and returns up to `maxEvents` events and about `maxBytes` bytes (at least one). */
  take(maxEvents: number, maxBytes: number): EncodedEvent[] {
    const out: EncodedEvent[] = [];
    let bytes = 0;
    while (this.head < this.items.length && out.length < maxEvents) {
      const e = this.items[this.head]!;
      if (out.length > 0 && bytes + e.value.length > maxBytes) break;
      out.push(e);
      bytes += e.value.length;
      this.head++;
    }
    this.bytesQueued -= bytes;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}
