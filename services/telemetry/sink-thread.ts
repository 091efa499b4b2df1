/**
 * The telemetry thread of a gateway whose sink runs off the request thread (threaded-sink.ts):
 * it owns the sink (the Kafka sink with its spill, or the embedded mode's local log), reads
 * whole exchange records from the shared ring (event-ring.ts), builds each event (hashes,
 * redaction, prediction, usage: event-builder.ts) and hands it to the sink here. Built events
 * never go back to the request thread. What goes back is small: how many records were taken (a
 * counter in the ring's control words, no message), the sink's counters every `STATS_MS`, the
 * replies to flush and close, and log lines (the parent writes them with its own logger).
 *
 * The thread keeps its event loop free, since the sink's producer, timers and files need it: it
 * looks at the ring every millisecond while there is traffic, and after {@link IDLE_NAPS} empty
 * looks parks on the ring's control word (`Atomics.waitAsync`) until the writer wakes it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { componentLogger, createLogger } from '../core/log.ts';
import type { TelemetryEvent } from './event.ts';
import { buildEvent, PROBE, type BuildDeps, type EventRecord } from './event-builder.ts';
import { PARKED, RingReader } from './event-ring.ts';
import { createSink } from './factory.ts';
import { createHasher } from './hash.ts';
import { createRedactor, warmRedactor } from './redact.ts';
import type { TelemetrySink } from './sink.ts';
import { EXTRA_COUNTERS, STATS_MS, type ExtraCounters, type FromSinkThread, type SinkSnapshot, type SinkThreadData, type ToSinkThread } from './threaded-sink.ts';

/** Empty looks at the ring (1 ms apart) before parking. */
const IDLE_NAPS = 50;
/** A parked thread still looks every this many ms. */
const PARK_MS = 1000;

const data = workerData as SinkThreadData;
const port = parentPort!;
const root = createLogger({ service: data.service, level: data.logLevel, destination: { write: (line: string) => port.postMessage({ log: line } satisfies FromSinkThread) } });
const deps: BuildDeps = { hasher: createHasher(data.hasher), redactor: createRedactor(data.redactor), gatewayId: data.gatewayId, paths: new Map() };
const ring = new RingReader(data.ring);
let sends: number[] = [];
let sink: TelemetrySink;
try {
  sink = createSink({
    telemetry: data.telemetry, kafka: data.kafka, dataDir: data.dataDir, logger: componentLogger(root, 'telemetry'),
    sendObserver: { observeSend: (s) => { sends.push(s); } },
  });
} catch (err) {
  port.postMessage({ failed: (err as Error).message } satisfies FromSinkThread);
  throw err;
}

const snapshot = (): SinkSnapshot => {
  const x = sink as unknown as Partial<Record<keyof ExtraCounters, () => number>>;
  const extra = Object.fromEntries(EXTRA_COUNTERS.map((k) => [k, x[k]?.() ?? 0])) as ExtraCounters;
  const s = { stats: sink.stats(), extra, sends };
  sends = [];
  return s;
};

let errors: string[] = [];
const onRecord = (r: EventRecord): void => {
  let e: TelemetryEvent;
  try {
    e = buildEvent(r, deps);
  } catch (err) {
    // A bug in building: the event is lost, and the parent logs why.
    errors.push((err as Error).message);
    return;
  }
  sink.emit(e);
};

/** Most records taken per look: then the sink's own I/O (sends, spill writes) gets the loop. */
const TAKE_MAX = 512;
/**
 * The sink's queue this full makes the thread leave records in the ring (where the gateway finds
 * no room and builds events itself): a flood waits there instead of overflowing the queue, which
 * counts what it cannot hold as dropped. The sink starts spilling well before (`queue.highWater`).
 */
const HOLD_AT = Math.floor(data.telemetry.queue.maxEvents * 0.9);

/** Takes what the ring holds into the sink (the ring's TAKEN word tells the parent how many); reports build errors. */
function take(max = TAKE_MAX): number {
  const room = HOLD_AT - sink.stats().queued;
  if (room <= 0) return 0;
  const n = ring.drain(onRecord, Math.min(max, room));
  if (errors.length > 0) {
    port.postMessage({ errors } satisfies FromSinkThread);
    errors = [];
  }
  return n;
}

/** `Atomics.waitAsync` (Node 16+; not in this TypeScript lib's types). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { value: Promise<string> | string } }).waitAsync;
const ctrl = ring.ctrl;
let idle = 0;
let stopped = false;
function cycle(): void {
  if (stopped) return;
  const n = take();
  if (n > 0 && !ring.empty()) { // more is waiting: look again after the loop's I/O
    idle = 0;
    setImmediate(cycle);
    return;
  }
  if (n > 0) idle = 0;
  else idle++;
  if (idle < IDLE_NAPS || sink.stats().queued >= HOLD_AT) {
    setTimeout(cycle, 1);
    return;
  }
  Atomics.store(ctrl, PARKED, 1);
  if (!ring.empty()) {
    Atomics.store(ctrl, PARKED, 0);
    idle = 0;
    setImmediate(cycle);
    return;
  }
  void Promise.resolve(waitAsync(ctrl, PARKED, 1, PARK_MS).value).then(() => {
    Atomics.store(ctrl, PARKED, 0);
    idle = ring.empty() ? IDLE_NAPS - 1 : 0; // nothing came: park again after the next look
    cycle();
  });
}

const stats = setInterval(() => port.postMessage({ snapshot: snapshot() } satisfies FromSinkThread), STATS_MS);
port.on('message', (m: ToSinkThread) => {
  if ('emit' in m) sink.emit(m.emit);
  else if ('flush' in m) void settle(m.flush, () => sink.flush());
  else if ('close' in m) {
    void settle(m.close, async () => {
      stopped = true;
      clearInterval(stats);
      await sink.close();
    });
  }
});

/** Takes what the ring holds, runs `work`, and replies `done` with the counters. */
async function settle(id: number, work: () => Promise<void>): Promise<void> {
  while (take(Infinity) > 0 || (!ring.empty() && sink.stats().queued >= HOLD_AT)) await new Promise((r) => setTimeout(r, 1));
  let error: string | undefined;
  try {
    await work();
  } catch (err) {
    error = (err as Error).message;
  }
  port.postMessage({ done: id, snapshot: snapshot(), ...(error ? { error } : {}) } satisfies FromSinkThread);
}

// Before the first record: compiling the detectors on a real event could exceed its redaction budget.
warmRedactor(deps.redactor);
port.postMessage({ ready: true, probe: deps.hasher.hashPayload(PROBE) } satisfies FromSinkThread);
cycle();
