/**
 * Builds each request's telemetry event and hands it to the sink, after the response is sent,
 * so hashing, redaction and JSON parsing never add to client latency. The sink's `emit` is never
 * awaited. Two ways:
 * - the sink is a {@link ThreadedSink} (`gateway.eventWorker` on): each record goes whole into
 *   that sink's shared ring, and its thread builds the event and sends it; the event never comes
 *   back here. A record the ring cannot take (larger than a quarter of it, or the ring full, or
 *   the thread gone) is built here instead and emitted to the same sink;
 * - any other sink: built in this thread, in one setImmediate per loop turn for everything that
 *   finished (at most {@link BUILD_BUDGET_MS} per turn, so a burst does not hold up I/O).
 * {@link TelemetryStage.drain} waits for every event submitted so far to reach the sink.
 */
import type { Logger } from '../core/log.ts';
import type { Hasher } from './hash.ts';
import type { Redactor } from './redact.ts';
import type { TelemetrySink } from './sink.ts';
import { buildEvent, type BuildDeps, type EventRecord } from './event-builder.ts';
import { ThreadedSink } from './threaded-sink.ts';

/** Options of {@link TelemetryStage}. */
export interface TelemetryStageOptions {
  sink: TelemetrySink;
  hasher: Hasher;
  redactor: Redactor;
  gatewayId: string;
  logger: Logger;
}

/** Longest stretch of inline event building per loop turn. */
const BUILD_BUDGET_MS = 1;

/** Turns finished exchanges into events. */
export class TelemetryStage {
  private queue: EventRecord[] = [];
  private scheduled = false;
  private waiters: Array<() => void> = [];
  private readonly deps: BuildDeps;
  /** Events built in this thread and handed to the sink so far. */
  builtHere = 0;
  /** The sink, when it runs in a thread that also builds the events. */
  private readonly threaded: ThreadedSink | undefined;

  constructor(private readonly opts: TelemetryStageOptions) {
    this.deps = { hasher: opts.hasher, redactor: opts.redactor, gatewayId: opts.gatewayId, paths: new Map() };
    this.threaded = opts.sink instanceof ThreadedSink ? opts.sink : undefined;
  }

  /** True while events are built in the sink's thread. */
  get usesWorker(): boolean {
    return this.threaded?.inThread === true;
  }

  /** Events submitted but not yet handed to the sink (or to its thread). */
  get backlog(): number {
    return this.queue.length + (this.threaded?.backlog ?? 0);
  }

  /** Schedules the event of a finished exchange (its record, see gateway/observability/event-record.ts). Never throws. */
  submit(r: EventRecord): void {
    if (this.threaded?.takeRecord(r)) return;
    this.queue.push(r);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  /** Resolves when every submitted event has reached the sink (for a threaded sink: its thread). */
  async drain(): Promise<void> {
    if (this.queue.length > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    await this.threaded?.taken();
  }

  /** Drains (the sink itself is closed by its owner). */
  async close(): Promise<void> {
    await this.drain();
  }

  private run(): void {
    this.scheduled = false;
    const start = performance.now();
    let i = 0;
    const q = this.queue;
    while (i < q.length) {
      this.buildOne(q[i++]!);
      if (performance.now() - start > BUILD_BUDGET_MS) break;
    }
    this.queue = i === q.length ? [] : q.slice(i);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.run());
    } else for (const w of this.waiters.splice(0)) w();
  }

  private buildOne(r: EventRecord): void {
    try {
      const e = buildEvent(r, this.deps);
      this.builtHere++;
      this.opts.sink.emit(e);
    } catch (err) {
      this.opts.logger.error({ err, model: r.model, event_id: r.event_id }, 'telemetry event could not be built');
    }
  }
}
