/**
 * The resend window: events Kafka acknowledged in the last `seconds` (at most `maxBytes` of them),
 * kept so that they can be sent again when the broker turns out to have lost them.
 *
 * An acknowledgement means every in-sync replica stored the events; it does not mean a consumer
 * read them. A broker that comes back with an empty log directory (a disk replaced, a pod
 * rescheduled without its volume, a single-broker test cluster wiped) has lost whatever the
 * ingester had not read yet, and so has an unclean leader election. The sink notices because the
 * partition's offsets go backwards: Kafka appends at ever-growing offsets, so a batch stored
 * below an offset an earlier batch got on the same partition was written to a log that was
 * truncated or created again. The sink then resends the whole window through its spill (the
 * ingester drops the copies it already stored, by event id), which turns a wipe into a delay for
 * every event acknowledged within the window before it.
 *
 * What it does not cover: events acknowledged longer than the window before the loss and not yet
 * read by then (the window should exceed the ingester's lag), and a loss another gateway's
 * writes hide by pushing the partition's offsets past this sink's before its next send (several
 * gateways on few partitions; this sink's next send on every other partition still shows it).
 */
import type { EncodedEvent } from './queue.ts';

/** Options of {@link ResendWindow}. */
export interface ResendWindowOptions {
  /** How long an acknowledged event is kept; 0 keeps none (and detection still runs). */
  seconds: number;
  /** Bound on the bytes kept (the oldest go first). */
  maxBytes: number;
}

/** Partition and base offset of one acknowledged batch, per partition it went to. */
export type PartitionOffsets = ReadonlyArray<readonly [partition: number, baseOffset: number]>;

interface Slice { at: number; events: readonly EncodedEvent[]; bytes: number }

/** Acknowledged events of the last seconds, and the offsets that reveal a broker's data loss. */
export class ResendWindow {
  private readonly opts: ResendWindowOptions;
  private readonly slices: Slice[] = [];
  private head = 0;
  private bytes = 0;
  private events = 0;
  /** Highest base offset acknowledged per partition since the last loss. */
  private readonly highest = new Map<number, number>();

  constructor(opts: ResendWindowOptions) {
    if (!(opts.seconds >= 0) || !(opts.maxBytes >= 0)) throw new RangeError('resend window: seconds and maxBytes must be >= 0');
    this.opts = opts;
  }

  /**
   * Records an acknowledged batch and where it was stored. Returns `undefined`, or, when the
   * offsets show that the broker lost data it had acknowledged, the events to resend: the
   * window's content before this batch, oldest first (empty when the window keeps nothing).
   */
  acknowledged(batch: readonly EncodedEvent[], offsets: PartitionOffsets, now = Date.now()): EncodedEvent[] | undefined {
    let lost = false;
    for (const [partition, base] of offsets) {
      const before = this.highest.get(partition);
      if (before !== undefined && base < before) lost = true;
    }
    let resend: EncodedEvent[] | undefined;
    if (lost) {
      resend = this.take();
      this.highest.clear();
    }
    for (const [partition, base] of offsets) this.highest.set(partition, Math.max(base, this.highest.get(partition) ?? -1));
    this.keep(batch, now);
    return resend;
  }

  /** Events kept now. */
  size(): number {
    return this.events;
  }

  /** Seconds between the oldest kept event's acknowledgement and `now` (0 when empty). */
  span(now = Date.now()): number {
    const first = this.slices[this.head];
    return first ? (now - first.at) / 1000 : 0;
  }

  /** Removes and returns every kept event, oldest first. */
  take(): EncodedEvent[] {
    const out: EncodedEvent[] = [];
    for (let i = this.head; i < this.slices.length; i++) out.push(...this.slices[i]!.events);
    this.slices.length = 0;
    this.head = 0;
    this.bytes = 0;
    this.events = 0;
    return out;
  }

  private keep(batch: readonly EncodedEvent[], now: number): void {
    if (this.opts.seconds > 0 && this.opts.maxBytes > 0 && batch.length) {
      let bytes = 0;
      for (const e of batch) bytes += e.value.length + e.key.length;
      this.slices.push({ at: now, events: batch, bytes });
      this.bytes += bytes;
      this.events += batch.length;
    }
    const oldest = now - this.opts.seconds * 1000;
    while (this.head < this.slices.length) {
      const s = this.slices[this.head]!;
      if (s.at >= oldest && this.bytes <= this.opts.maxBytes) break;
      this.bytes -= s.bytes;
      this.events -= s.events.length;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.slices.length) {
      this.slices.splice(0, this.head);
      this.head = 0;
    }
  }
}
