/**
 * Builds each request's telemetry event and hands it to the sink, after the response is sent,
 * so hashing, redaction and JSON parsing never add to client latency. The sink's `emit` is never
 * awaited. Two ways to build:
 * - inline: in this thread, in one setImmediate per loop turn for everything that finished;
 * - worker (when given the hasher and redactor options): in a worker thread. Each finished
 *   request's payloads are copied into a shared ring (event-ring.ts) at once, with no
 *   message and no wake-up of the worker; the worker's results come back in batches and are
 *   emitted here. A payload that does not fit the ring is built inline. If the worker fails (or
 *   hashes differently from the hasher given), the stage logs it and builds inline from then
 *   on, including what was in flight, so no event is lost.
 * When the sink is a {@link ThreadedSink}, neither: each record goes whole into that sink's
 * ring, and its thread builds the event and sends it (the event never comes back here); only a
 * record the ring cannot take is built inline.
 * {@link TelemetryStage.drain} waits for every event submitted so far to reach the sink.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/log.ts';
import type { Hasher, HasherOptions } from './hash.ts';
import type { Redactor, RedactorOptions } from './redact.ts';
import type { TelemetrySink } from './sink.ts';
import { assembleEvent, buildEvent, PROBE, type BuildDeps, type EventRecord } from './event-builder.ts';
import { fieldsAt, ringMemory, RingWriter, type BackMessage } from './event-ring.ts';
import { spawnWorker } from './worker-thread.ts';
import { ThreadedSink } from './threaded-sink.ts';

/** Options of {@link TelemetryStage}. */
export interface TelemetryStageOptions {
  sink: TelemetrySink;
  hasher: Hasher;
  redactor: Redactor;
  gatewayId: string;
  logger: Logger;
  /** Build events in a worker thread constructed from these options (the same the hasher and redactor were made with). */
  worker?: { hasher: HasherOptions; redactor: RedactorOptions } | undefined;
  /** Bytes of the ring the worker reads from (default 8 MiB; a record above a quarter of it is built inline). */
  ringBytes?: number | undefined;
}

/** Longest stretch of inline event building per loop turn. */
const BUILD_BUDGET_MS = 1;
/** Size of the ring the worker reads payloads from. */
const RING_BYTES = 8 << 20;

/** Turns finished exchanges into events. */
export class TelemetryStage {
  private queue: EventRecord[] = [];
  private scheduled = false;
  private waiters: Array<() => void> = [];
  private readonly deps: BuildDeps;
  private worker: Worker | undefined;
  private ring: RingWriter | undefined;
  /** Records in the ring or being built by the worker, in ring order (from `pendingHead`). */
  private pending: EventRecord[] = [];
  private pendingHead = 0;
  private closed = false;
  /** Events handed to the sink so far, by where they were built. */
  readonly built = { worker: 0, inline: 0 };
  /** The sink, when it runs in a thread that also builds the events. */
  private readonly threaded: ThreadedSink | undefined;

  constructor(private readonly opts: TelemetryStageOptions) {
    this.deps = { hasher: opts.hasher, redactor: opts.redactor, gatewayId: opts.gatewayId, paths: new Map() };
    this.threaded = opts.sink instanceof ThreadedSink ? opts.sink : undefined;
    if (opts.worker && !this.threaded) this.startWorker(opts.worker);
  }

  /** True while events are built in a worker thread (the payload worker, or the sink's thread). */
  get usesWorker(): boolean {
    return this.worker !== undefined || this.threaded?.inThread === true;
  }

  /** Events submitted but not yet handed to the sink. */
  get backlog(): number {
    return this.queue.length + this.pending.length - this.pendingHead;
  }

  /** Schedules the event of a finished exchange (its record, see gateway/observability/event-record.ts). Never throws. */
  submit(r: EventRecord): void {
    if (this.threaded?.takeRecord(r)) return;
    if (this.ring && this.toRing(this.ring, r)) return;
    this.queue.push(r);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  /** Resolves when every submitted event has reached the sink (for a threaded sink: its thread). */
  async drain(): Promise<void> {
    if (this.backlog > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    await this.threaded?.taken();
  }

  /** Drains, then stops the worker. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.ring = undefined;
    if (w) await w.terminate();
  }

  private run(): void {
    this.scheduled = false;
    // Build for at most BUILD_BUDGET_MS per loop turn, then let I/O in: a burst of finished
    // requests must not hold up the requests arriving behind it.
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
    }
    this.settle();
  }

  /** Copies a record's payloads into the ring. False when it must be built inline. */
  private toRing(ring: RingWriter, r: EventRecord): boolean {
    const profile = ring.profileOf(r);
    if (profile < 0 || !ring.writeEvent(r, profile)) return false;
    this.pending.push(r);
    return true;
  }

  private buildInline(batch: readonly EventRecord[]): void {
    for (const r of batch) this.buildOne(r);
  }

  private buildOne(r: EventRecord): void {
    try {
      const e = buildEvent(r, this.deps);
      this.built.inline++;
      this.opts.sink.emit(e);
    } catch (err) {
      this.opts.logger.error({ err, model: r.model, event_id: r.event_id }, 'telemetry event could not be built');
    }
  }

  private onResult(msg: BackMessage): void {
    const start = this.pendingHead;
    const n = Math.min(msg.n, this.pending.length - start);
    const keyId = this.opts.hasher.keyId;
    for (const e of msg.errors) this.opts.logger.warn({ reason: e }, 'telemetry worker could not build an event; building it here');
    for (let i = 0; i < n; i++) {
      const r = this.pending[start + i]!;
      const f = fieldsAt(msg.out, i);
      if (f) {
        this.built.worker++;
        this.opts.sink.emit(assembleEvent(r, f, this.opts.gatewayId, keyId));
      } else this.buildOne(r); // the worker could not: try here, where errors are logged
    }
    this.pendingHead = start + n;
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 4096) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    this.settle();
  }

  private startWorker(options: { hasher: HasherOptions; redactor: RedactorOptions }): void {
    const mem = ringMemory(this.opts.ringBytes ?? RING_BYTES);
    const worker = spawnWorker('event-worker', { gatewayId: this.opts.gatewayId, hasher: options.hasher, redactor: options.redactor, ring: mem });
    worker.unref();
    this.worker = worker;
    this.ring = new RingWriter(mem);
    const expected = this.opts.hasher.hashPayload(PROBE);
    worker.on('message', (m: BackMessage & { ready?: boolean; probe?: string }) => {
      if (this.worker !== worker) return; // a worker given up on: what it still sends is built here already
      if (m.ready) {
        if (m.probe !== expected) this.fallBack(worker, new Error('the worker hashes differently from the hasher given to the gateway'));
        return;
      }
      this.onResult(m);
    });
    worker.on('error', (err) => this.fallBack(worker, err));
    worker.on('exit', (code) => { if (!this.closed) this.fallBack(worker, new Error(`telemetry worker exited with code ${code}`)); });
  }

  /** Stops using the worker and builds what it had, and everything after, in this thread. */
  private fallBack(worker: Worker, err: unknown): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.ring = undefined;
    this.opts.logger.error({ err }, 'telemetry worker failed; building events in the main thread from now on');
    void worker.terminate();
    const pending = this.pending.slice(this.pendingHead);
    this.pending = [];
    this.pendingHead = 0;
    this.buildInline(pending);
    this.settle();
  }

  private settle(): void {
    if (this.backlog === 0) for (const w of this.waiters.splice(0)) w();
  }
}
