/**
 * The telemetry worker thread: computes the costly event fields (hashes, redaction, response
 * parsing, prediction, usage) from the payloads the request thread writes into the shared ring
 * (event-ring.ts), so that work does not run on the gateway's event loop. Raw payloads stay
 * inside the process (a worker thread shares it); only hashes and redacted text go back.
 *
 * The thread runs one loop and never returns to its event loop: take everything in the ring,
 * post the results in one message, nap 1 ms. After {@link IDLE_NAPS} empty naps it parks until
 * the writer wakes it. A `{ ready, probe }` message goes first so the parent can check that the
 * key matches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createHasher, type HasherOptions } from './hash.ts';
import { createRedactor, type RedactorOptions } from './redact.ts';
import { payloadFields, PROBE, type BuildDeps, type PayloadInput } from './event-builder.ts';
import { NAP, PARKED, pushFailure, pushFields, RingReader, type RingMemory } from './event-ring.ts';

/** What the parent passes as `workerData`. */
export interface TelemetryWorkerData {
  gatewayId: string;
  hasher: HasherOptions;
  redactor: RedactorOptions;
  ring: RingMemory;
}

/** Empty 1 ms naps before parking (so a busy gateway never has to wake the worker). */
const IDLE_NAPS = 50;
/** A parked worker still looks every this many ms (a lost wake-up would only delay events). */
const PARK_MS = 1000;

const data = workerData as TelemetryWorkerData;
const deps: BuildDeps = { hasher: createHasher(data.hasher), redactor: createRedactor(data.redactor), gatewayId: data.gatewayId, paths: new Map() };
const ring = new RingReader(data.ring);
const port = parentPort!;
port.postMessage({ ready: true, probe: deps.hasher.hashPayload(PROBE) });

let out: unknown[] = [];
let errors: string[] = [];
const build = (input: PayloadInput): void => {
  try {
    pushFields(out, payloadFields(input, deps));
  } catch (err) {
    pushFailure(out);
    errors.push((err as Error).message);
  }
};

const ctrl = ring.ctrl;
let idle = 0;
for (;;) {
  const n = ring.drain(build);
  if (n > 0) {
    port.postMessage({ n, out, errors });
    out = [];
    errors = [];
    idle = 0;
  }
  if (n === 0 && ++idle >= IDLE_NAPS) {
    Atomics.store(ctrl, PARKED, 1);
    if (ring.empty()) Atomics.wait(ctrl, PARKED, 1, PARK_MS);
    Atomics.store(ctrl, PARKED, 0);
    idle = ring.empty() ? IDLE_NAPS - 1 : 0; // nothing came: park again after the next look
  } else {
    Atomics.wait(ctrl, NAP, 0, 1);
  }
}
