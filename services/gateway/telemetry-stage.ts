/**
 * Builds each request's telemetry event and hands it to the sink, after the response is sent,
 * so hashing, redaction and JSON parsing never add to client latency. The sink's `emit` is never
 * awaited. Two ways to build:
 * - inline: in this thread, in one setImmediate per loop turn for everything that finished;
 * - worker (when given the hasher and redactor options): in a worker thread. Each loop turn's
 *   records go over in one message, their bodies packed into one transferred buffer; the events
 *   come back and are emitted here. If the worker fails (or hashes differently from the hasher
 *   given), the stage logs it and builds inline from then on, including what was in flight, so
 *   no event is lost.
 * {@link TelemetryStage.drain} waits for every event submitted so far to reach the sink.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/log.ts';
import type { Hasher, HasherOptions } from '../telemetry/hash.ts';
import type { Redactor, RedactorOptions } from '../telemetry/redact.ts';
import type { TelemetrySink } from '../telemetry/sink.ts';
import { assembleEvent, buildEvent, PROBE, recordOf, type BuildDeps, type EventRecord } from './event-record.ts';
import type { Exchange } from './exchange.ts';
import { fieldsAt, packBatch, type BackMessage, type Profile } from './telemetry-wire.ts';

/** Options of {@link TelemetryStage}. */
export interface TelemetryStageOptions {
  sink: TelemetrySink;
  hasher: Hasher;
  redactor: Redactor;
  gatewayId: string;
  logger: Logger;
  /** Build events in a worker thread constructed from these options (the same the hasher and redactor were made with). */
  worker?: { hasher: HasherOptions; redactor: RedactorOptions } | undefined;
}

/** Longest stretch of inline event building per loop turn. */
const BUILD_BUDGET_MS = 1;

/**
 * Starts the worker script next to this file. Run from TypeScript sources (tsx), the worker
 * first registers tsx's loader itself: Node 20 workers do not inherit `--import` hooks.
 */
function spawnWorker(workerData: unknown): Worker {
  const self = import.meta.url;
  const script = new URL(self.endsWith('.ts') ? './telemetry-worker.ts' : './telemetry-worker.js', self);
  if (!self.endsWith('.ts')) return new Worker(script, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** Turns finished exchanges into events. */
export class TelemetryStage {
  private queue: EventRecord[] = [];
  private scheduled = false;
  private waiters: Array<() => void> = [];
  private readonly deps: BuildDeps;
  private worker: Worker | undefined;
  private readonly inFlight = new Map<number, EventRecord[]>();
  /** Model settings already sent to the worker (keyed by config object identity). Reset with the worker. */
  private readonly profiles = new WeakMap<object, number>();
  private profileCount = 0;
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: TelemetryStageOptions) {
    this.deps = { hasher: opts.hasher, redactor: opts.redactor, gatewayId: opts.gatewayId, paths: new Map() };
    if (opts.worker) this.startWorker(opts.worker);
  }

  /** True while events are built in the worker thread. */
  get usesWorker(): boolean {
    return this.worker !== undefined;
  }

  /** Events submitted but not yet handed to the sink. */
  get backlog(): number {
    let n = this.queue.length;
    for (const b of this.inFlight.values()) n += b.length;
    return n;
  }

  /** Schedules the event of a finished exchange. Never throws. */
  submit(x: Exchange): void {
    this.queue.push(recordOf(x));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  /** Resolves when every submitted event has reached the sink. */
  drain(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drains, then stops the worker. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private run(): void {
    this.scheduled = false;
    if (this.worker) {
      const batch = this.queue;
      this.queue = [];
      this.send(this.worker, batch);
    } else {
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
    }
    this.settle();
  }

  private buildInline(batch: readonly EventRecord[]): void {
    for (const r of batch) this.buildOne(r);
  }

  private buildOne(r: EventRecord): void {
    try {
      this.opts.sink.emit(buildEvent(r, this.deps));
    } catch (err) {
      this.opts.logger.error({ err, model: r.model, event_id: r.event_id }, 'telemetry event could not be built');
    }
  }

  private send(worker: Worker, batch: EventRecord[]): void {
    const id = this.nextId++;
    this.inFlight.set(id, batch);
    const { msg, transfer } = packBatch(id, batch, (r, fresh) => this.profileOf(r, fresh));
    worker.postMessage(msg, transfer);
  }

  /** Numbers a model's settings (by identity of its config objects) for the worker. */
  private profileOf(r: EventRecord, fresh: Array<[number, Profile]>): number {
    const key = r.redaction ?? r.prediction;
    if (!key) return 0;
    let n = this.profiles.get(key);
    if (n === undefined) {
      n = ++this.profileCount;
      this.profiles.set(key, n);
      fresh.push([n, { prediction: r.prediction, redaction: r.redaction }]);
    }
    return n;
  }

  private onResult(msg: BackMessage): void {
    const batch = this.inFlight.get(msg.id);
    if (!batch) return;
    this.inFlight.delete(msg.id);
    const keyId = this.opts.hasher.keyId;
    for (const e of msg.errors) this.opts.logger.warn({ reason: e }, 'telemetry worker could not build an event; building it here');
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!;
      const f = fieldsAt(msg.out, i);
      if (f) this.opts.sink.emit(assembleEvent(r, f, this.opts.gatewayId, keyId));
      else this.buildInline([r]); // the worker could not: try here, where errors are logged
    }
    this.settle();
  }

  private startWorker(options: { hasher: HasherOptions; redactor: RedactorOptions }): void {
    const worker = spawnWorker({ gatewayId: this.opts.gatewayId, hasher: options.hasher, redactor: options.redactor });
    worker.unref();
    this.worker = worker;
    const expected = this.opts.hasher.hashPayload(PROBE);
    worker.on('message', (m: BackMessage & { ready?: boolean; probe?: string }) => {
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
    this.opts.logger.error({ err }, 'telemetry worker failed; building events in the main thread from now on');
    void worker.terminate();
    const pending = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const batch of pending) this.buildInline(batch);
    this.settle();
  }

  private settle(): void {
    if (this.backlog === 0) for (const w of this.waiters.splice(0)) w();
  }
}
