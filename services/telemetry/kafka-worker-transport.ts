/**
 * A {@link Transport} that runs kafkajs in a worker thread (kafka-worker.ts), so the producer's
 * encoding work (about 20 µs of CPU per 1 KB event) leaves the gateway's event loop. The main
 * thread only concatenates each batch into one buffer and transfers it. The worker starts on
 * the first connect and is started again after it exits; a send pending when it exits fails with
 * a retriable error, which the sink treats like a Kafka outage (spill, then replay).
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/log.ts';
import { CLOSE_DEADLINE_MS, type KafkaTransportOptions, type Transport } from './kafka-transport.ts';
import type { KafkaWorkerData, WorkerReply, WorkerRequest } from './kafka-worker.ts';
import type { EncodedEvent } from './queue.ts';
import type { PartitionOffsets } from './resend-window.ts';
import { spawnWorker } from './worker-thread.ts';

/** Waits for `p` (its failure ignored) at most `ms`. */
async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}

type Done = { seconds?: number | undefined; offsets?: PartitionOffsets | undefined };
type Pending = { resolve: (done: Done) => void; reject: (err: Error) => void };

/** Error that crossed the thread boundary; keeps kafkajs's name, `retriable` and protocol error `type`. */
class RemoteError extends Error {
  readonly retriable: boolean | undefined;
  readonly type: string | undefined;
  constructor(e: { name: string; message: string; retriable?: boolean; type?: string }) {
    super(e.message);
    this.name = e.name;
    this.retriable = e.retriable;
    this.type = e.type;
  }
}

/** kafkajs in a worker thread, behind the same interface as {@link KafkaTransport}. */
export class WorkerKafkaTransport implements Transport {
  private readonly opts: KafkaTransportOptions;
  private readonly log: Logger;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private quiet = false;
  private closed = false;

  constructor(opts: KafkaTransportOptions) {
    this.opts = opts;
    this.log = opts.logger;
  }

  async connect(): Promise<void> {
    await this.call({ id: 0, op: 'connect' });
  }

  async send(events: readonly EncodedEvent[]): Promise<PartitionOffsets> {
    if (!this.worker) await this.connect();
    const total = events.reduce((n, e) => n + e.value.length, 0);
    const values = new Uint8Array(total);
    const ends: number[] = new Array(events.length);
    let at = 0;
    events.forEach((e, i) => {
      values.set(e.value, at);
      at += e.value.length;
      ends[i] = at;
    });
    const done = await this.call({ id: 0, op: 'send', keys: events.map((e) => e.key), values, ends }, [values.buffer as ArrayBuffer]);
    if (done.seconds !== undefined) this.opts.metrics?.observeSend(done.seconds);
    return done.offsets ?? [];
  }

  async reset(): Promise<void> {
    if (!this.worker) return;
    await withDeadline(this.call({ id: 0, op: 'reset' }), CLOSE_DEADLINE_MS + 1000);
  }

  /** Disconnects in the worker (its own deadline applies there), then ends the thread whatever happened. */
  async disconnect(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    await withDeadline(this.call({ id: 0, op: 'disconnect' }), CLOSE_DEADLINE_MS + 1000);
    this.worker = undefined;
    await w.terminate();
  }

  private start(): Worker {
    const data: KafkaWorkerData = {
      brokers: this.opts.brokers, clientId: this.opts.clientId, topic: this.opts.topic, partitions: this.opts.partitions,
      replicationFactor: this.opts.replicationFactor, connectionTimeoutMs: this.opts.connectionTimeoutMs, requestTimeoutMs: this.opts.requestTimeoutMs,
    };
    const w = spawnWorker('kafka-worker', data);
    w.unref();
    w.on('message', (m: WorkerReply) => {
      if ('log' in m) {
        this.log[m.log.level](m.log.obj, m.log.msg);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve({ seconds: m.seconds, offsets: m.offsets });
      else p.reject(new RemoteError(m.error));
    });
    const gone = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(new RemoteError({ name: 'MlgTelemetryWorkerExited', message: `telemetry producer thread ${why}`, retriable: true }));
      this.pending.clear();
      if (!this.closed) this.log.error({ why }, 'telemetry producer thread stopped; it restarts on the next send');
    };
    w.on('error', (err) => gone(`failed: ${err.message}`));
    w.on('exit', (code) => gone(`exited with code ${code}`));
    this.worker = w;
    return w;
  }

  private call(req: WorkerRequest & { id: number }, transfer: ArrayBuffer[] = []): Promise<Done> {
    const w = this.worker ?? this.start();
    const quiet = this.opts.quiet();
    if (quiet !== this.quiet) {
      this.quiet = quiet;
      w.postMessage({ op: 'quiet', quiet } satisfies WorkerRequest);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id }, transfer);
    });
  }
}
