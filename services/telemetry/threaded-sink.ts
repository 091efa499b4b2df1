/**
 * The gateway's telemetry sink run in a thread of its own (sink-thread.ts), so the request
 * thread only copies each finished exchange into a shared ring ({@link ThreadedSink.takeRecord}):
 * building the event, encoding it and the Kafka producer (or the local log) all run in the
 * thread. It is used when `gateway.eventWorker` is on (by default when the host has more cores
 * than gateway processes).
 *
 * Toward the gateway it is a {@link TelemetrySink}: `emit` takes an event built here (a record
 * too big for the ring, or the ring full) and posts it to the thread; `flush` and `close` wait
 * for the thread's sink; `stats` and the extra counters come from the thread's last report
 * (every 250 ms, and with every flush).
 *
 * No accepted event is lost to a failing thread: records stay referenced here until the thread
 * says it took them, and if the thread fails (an error, an exit, or hashing with another key)
 * the sink is created in this thread (the dead thread's file locks released first), and what the
 * thread had not taken is built and emitted here, like everything after. What the dead thread
 * had taken but not yet sent or spilled is lost, as in a crash of the process (the crash window
 * of docs/telemetry.md).
 */
import type { Worker } from 'node:worker_threads';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { KafkaSection } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { TelemetryConfig } from './config.ts';
import { buildEvent, PROBE, type BuildDeps, type EventRecord } from './event-builder.ts';
import type { TelemetryEvent } from './event.ts';
import { ringMemory, RingWriter, type RingMemory } from './event-ring.ts';
import { createSink, localLogDir, spillDir } from './factory.ts';
import type { Hasher, HasherOptions } from './hash.ts';
import { releaseLockOfDeadThread } from './local-log-writer.ts';
import { TelemetryMetrics } from './metrics.ts';
import type { Redactor, RedactorOptions } from './redact.ts';
import type { SinkStats, TelemetrySink } from './sink.ts';
import { spawnWorker } from './worker-thread.ts';

/** What the thread gets as `workerData` (sink-thread.ts). */
export interface SinkThreadData {
  gatewayId: string;
  hasher: HasherOptions;
  redactor: RedactorOptions;
  ring: RingMemory;
  telemetry: TelemetryConfig;
  kafka: Pick<z.output<typeof KafkaSection>, 'brokers' | 'clientId' | 'connectionTimeoutMs' | 'requestTimeoutMs'> | undefined;
  dataDir: string;
  /** Service name and pino level of the parent's logger. */
  service: string;
  logLevel: string;
}

/** The counters only some sinks have (see metrics.ts). */
export const EXTRA_COUNTERS = ['expired', 'deadLetters', 'producerResets', 'brokerLosses', 'resent'] as const;
export type ExtraCounters = Record<(typeof EXTRA_COUNTERS)[number], number>;

/** The sink's counters as the thread reports them. */
export interface SinkSnapshot {
  stats: SinkStats;
  extra: ExtraCounters;
  /** Send times (seconds) of the batches acknowledged since the previous snapshot. */
  sends: number[];
}

/** Parent → thread. */
export type ToSinkThread = { emit: TelemetryEvent } | { flush: number } | { close: number };
/** Thread → parent. */
export type FromSinkThread =
  | { ready: true; probe: string }
  | { failed: string }
  | { errors: string[] }
  | { snapshot: SinkSnapshot }
  | { log: string }
  | { done: number; snapshot: SinkSnapshot; error?: string };

/** How often the thread sends the sink's counters. */
export const STATS_MS = 250;

/** Options of {@link ThreadedSink.start}. */
export interface ThreadedSinkOptions extends Omit<SinkThreadData, 'ring'> {
  /** The same hasher and redactor the thread makes from `hasher` and `redactor` options (used when it fails). */
  hasherInstance: Hasher;
  redactorInstance: Redactor;
  logger: Logger;
  /** The telemetry metrics are registered here. */
  registry?: Registry | undefined;
  /** Bytes of the ring (default 8 MiB; a record above a quarter of it is built here). */
  ringBytes?: number | undefined;
}

const RING_BYTES = 8 << 20;
const ZERO_STATS: SinkStats = { queued: 0, sent: 0, spilled: 0, replayed: 0, dropped: 0, errors: 0 };
const ZERO_EXTRA = Object.fromEntries(EXTRA_COUNTERS.map((k) => [k, 0])) as ExtraCounters;

/** A sink that is not the thread's (after the thread failed). */
type Local = TelemetrySink & Partial<Record<keyof ExtraCounters, () => number>>;

/** The telemetry sink in its own thread. */
export class ThreadedSink implements TelemetrySink {
  private worker: Worker | undefined;
  private ring: RingWriter | undefined;
  /** Records written to the ring and not yet taken by the thread, in ring order (from `pendingHead`). */
  private pending: EventRecord[] = [];
  private pendingHead = 0;
  /** The ring's TAKEN count last seen. */
  private takenSeen = 0;
  private waiters: Array<() => void> = [];
  private last: SinkSnapshot = { stats: ZERO_STATS, extra: ZERO_EXTRA, sends: [] };
  private calls = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextCall = 1;
  private closing: Promise<void> | undefined;
  private local: Local | undefined;
  private readonly deps: BuildDeps;
  private readonly metrics: TelemetryMetrics | undefined;
  /** Events built in this thread (too big for the ring, ring full, or after the thread failed). */
  builtHere = 0;
  /** Events emitted after close (counted as dropped). */
  private droppedClosed = 0;

  private constructor(private readonly opts: ThreadedSinkOptions) {
    this.deps = { hasher: opts.hasherInstance, redactor: opts.redactorInstance, gatewayId: opts.gatewayId, paths: new Map() };
    this.metrics = opts.registry ? new TelemetryMetrics(opts.registry) : undefined;
    this.metrics?.track(this);
  }

  /**
   * Starts the thread and waits until its sink exists. Rejects as {@link createSink} would throw
   * here (an unusable directory, a log another process holds).
   */
  static async start(opts: ThreadedSinkOptions): Promise<ThreadedSink> {
    const s = new ThreadedSink(opts);
    await s.spawn();
    return s;
  }

  /** True while the sink runs in its thread. */
  get inThread(): boolean {
    return this.worker !== undefined;
  }

  /** Records handed over and not yet taken by the thread. */
  get backlog(): number {
    this.forgetTaken();
    return this.pending.length - this.pendingHead;
  }

  /** Drops the records the thread has taken (the ring counts them) from {@link pending}. */
  private forgetTaken(): void {
    if (!this.ring) return;
    const t = this.ring.taken();
    const k = (t - this.takenSeen) >>> 0;
    if (k === 0) return;
    this.takenSeen = t;
    this.pendingHead = Math.min(this.pendingHead + k, this.pending.length);
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 4096) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /**
   * Copies a finished exchange into the ring for the thread to build and send. False when it
   * must be built here and given to {@link emit} (the thread failed, the ring is full, or the
   * record is larger than a quarter of the ring).
   */
  takeRecord(r: EventRecord): boolean {
    if (!this.ring) return false;
    // Forget before writing, never between the write and the push: the thread may take the new
    // record at once (this thread preempted), and a count read then would include a record not
    // yet in `pending`, which would then wait there for ever (and hold up flush and close).
    if (this.pending.length >= 1024) this.forgetTaken();
    if (!this.ring.writeRecord(r)) return false;
    this.pending.push(r);
    return true;
  }

  /** Resolves when the thread has taken every record handed over so far (or failed: they are then built here). */
  taken(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      if (this.waiters.length === 1) this.pollTaken();
    });
  }

  /** Looks at the ring's count every millisecond while someone waits for the thread to take the backlog. */
  private pollTaken(): void {
    const t = setTimeout(() => {
      if (this.waiters.length === 0) return;
      if (this.backlog === 0) for (const w of this.waiters.splice(0)) w();
      else this.pollTaken();
    }, 1);
    // The thread is unref'd; a waiter (a flush at shutdown) keeps the process alive through this timer.
    void t;
  }

  emit(event: TelemetryEvent): void {
    this.builtHere++;
    if (this.local) return this.local.emit(event);
    if (this.worker) return this.worker.postMessage({ emit: event } satisfies ToSinkThread);
    this.droppedClosed++; // after close(), as any sink counts what comes after it closed
  }

  async flush(): Promise<void> {
    await this.taken();
    if (this.local) return this.local.flush();
    await this.call((id) => ({ flush: id }));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.taken();
      if (this.worker) {
        const w = this.worker;
        await this.call((id) => ({ close: id }));
        this.worker = undefined;
        this.ring = undefined;
        await w.terminate();
      }
      await this.local?.close();
    })();
    return this.closing;
  }

  stats(): SinkStats {
    const a = { ...this.last.stats, dropped: this.last.stats.dropped + this.droppedClosed };
    const b = this.local?.stats();
    if (!b) return a;
    return { queued: b.queued, sent: a.sent + b.sent, spilled: a.spilled + b.spilled, replayed: a.replayed + b.replayed, dropped: a.dropped + b.dropped, errors: a.errors + b.errors };
  }

  expired(): number { return this.extra('expired'); }
  deadLetters(): number { return this.extra('deadLetters'); }
  producerResets(): number { return this.extra('producerResets'); }
  brokerLosses(): number { return this.extra('brokerLosses'); }
  resent(): number { return this.extra('resent'); }

  private extra(k: keyof ExtraCounters): number {
    return this.last.extra[k] + (this.local?.[k]?.() ?? 0);
  }

  private spawn(): Promise<void> {
    const mem = ringMemory(this.opts.ringBytes ?? RING_BYTES);
    const { hasherInstance: _h, redactorInstance: _r, logger: _l, registry: _g, ringBytes: _b, ...rest } = this.opts;
    const worker = spawnWorker('sink-thread', { ...rest, ring: mem } satisfies SinkThreadData);
    worker.unref(); // like the sink's own timers: an open gateway or a pending close keeps the process alive
    this.worker = worker;
    this.ring = new RingWriter(mem);
    const expected = this.opts.hasherInstance.hashPayload(PROBE);
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (m: FromSinkThread) => {
        if (this.worker !== worker) return;
        if ('ready' in m) {
          started = true;
          if (m.probe !== expected) this.fail(worker, new Error('the telemetry thread hashes differently from the hasher given to the gateway'));
          resolve();
        } else if ('failed' in m) {
          if (!started) { started = true; this.worker = undefined; this.ring = undefined; void worker.terminate(); reject(new Error(m.failed)); }
        } else this.onMessage(m);
      });
      worker.on('error', (err) => {
        if (!started) { started = true; this.worker = undefined; this.ring = undefined; reject(err); return; }
        this.fail(worker, err);
      });
      worker.on('exit', (code) => {
        if (!started) { started = true; this.worker = undefined; this.ring = undefined; reject(new Error(`telemetry thread exited with code ${code} before it started`)); return; }
        if (this.worker === worker) this.fail(worker, new Error(`telemetry thread exited with code ${code}`));
      });
    });
  }

  private onMessage(m: Exclude<FromSinkThread, { ready: true } | { failed: string }>): void {
    if ('errors' in m) {
      for (const e of m.errors) this.opts.logger.error({ reason: e }, 'telemetry event could not be built');
    } else if ('snapshot' in m && !('done' in m)) this.onSnapshot(m.snapshot);
    else if ('log' in m) this.relayLog(m.log);
    else if ('done' in m) {
      this.onSnapshot(m.snapshot);
      const c = this.calls.get(m.done);
      this.calls.delete(m.done);
      if (m.error) c?.reject(new Error(m.error));
      else c?.resolve();
    }
  }

  private onSnapshot(s: SinkSnapshot): void {
    for (const t of s.sends) this.metrics?.observeSend(t);
    this.last = s;
  }

  /** Writes a line the thread logged with this thread's logger (level, message and fields kept). */
  private relayLog(line: string): void {
    try {
      const { level, msg, time: _t, pid: _p, hostname: _n, service: _s, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const name = LEVELS[level as number] ?? 'info';
      this.opts.logger[name]({ ...fields, thread: 'telemetry' }, String(msg ?? ''));
    } catch { /* not a JSON line: nothing to keep */ }
  }

  private call(make: (id: number) => ToSinkThread): Promise<void> {
    const w = this.worker;
    if (!w) return this.local ? this.local.flush() : Promise.resolve();
    const id = this.nextCall++;
    // The thread is unref'd: a caller awaiting a flush or close (graceful shutdown) keeps the process alive.
    const keepAlive = setInterval(() => {}, 1000);
    return new Promise<void>((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      w.postMessage(make(id));
    }).finally(() => clearInterval(keepAlive));
  }

  /** Gives up on the thread: the sink now runs here, and what the thread had not taken is built here. */
  private fail(worker: Worker, err: unknown): void {
    if (this.worker !== worker) return;
    this.forgetTaken(); // what the thread counted as taken is in its sink: lost with it, as in a crash
    this.worker = undefined;
    this.ring = undefined;
    this.opts.logger.error({ err }, 'telemetry thread failed; building and sending events in the main thread from now on');
    void worker.terminate();
    const t = this.opts.telemetry;
    for (const dir of [spillDir(t, this.opts.dataDir), localLogDir(t, this.opts.dataDir)]) releaseLockOfDeadThread(dir);
    try {
      this.local = createSink({ telemetry: t, kafka: this.opts.kafka, dataDir: this.opts.dataDir, logger: this.opts.logger, sendObserver: this.metrics }) as Local;
    } catch (e) {
      this.opts.logger.error({ err: e }, 'telemetry sink could not be created in the main thread either; events are dropped');
      this.local = new DroppingSink();
    }
    const pending = this.pending.slice(this.pendingHead);
    this.pending = [];
    this.pendingHead = 0;
    for (const r of pending) {
      try {
        this.emit(buildEvent(r, this.deps));
      } catch (e) {
        this.opts.logger.error({ err: e, model: r.model, event_id: r.event_id }, 'telemetry event could not be built');
      }
    }
    // Flush and close calls the thread will not answer now go to the sink here.
    for (const [id, c] of this.calls) {
      this.calls.delete(id);
      this.local.flush().then(c.resolve, c.reject);
    }
    for (const w of this.waiters.splice(0)) w();
  }
}

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Counts what it is given as dropped (when no sink could be created at all). */
class DroppingSink implements TelemetrySink {
  private dropped = 0;
  emit(): void { this.dropped++; }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  stats(): SinkStats { return { ...ZERO_STATS, dropped: this.dropped }; }
}
