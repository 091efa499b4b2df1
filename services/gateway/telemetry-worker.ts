/**
 * The telemetry worker thread: computes the costly event fields (hashes, redaction, response
 * parsing, prediction, usage) from the payloads the request path hands over, so that work does
 * not run on the gateway's event loop. Raw payloads stay inside the process (a worker thread
 * shares it); only hashes and redacted text go back. Messages: telemetry-wire.ts. A
 * `{ ready, probe }` message goes first so the parent can check that the key matches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createHasher, type HasherOptions } from '../telemetry/hash.ts';
import { createRedactor, type RedactorOptions } from '../telemetry/redact.ts';
import { payloadFields, PROBE, type BuildDeps } from './event-record.ts';
import { META_WIDTH, pushFailure, pushFields, unpackInput, type OutMessage, type Profile } from './telemetry-wire.ts';

/** What the parent passes as `workerData`. */
export interface TelemetryWorkerData {
  gatewayId: string;
  hasher: HasherOptions;
  redactor: RedactorOptions;
}

const data = workerData as TelemetryWorkerData;
const deps: BuildDeps = { hasher: createHasher(data.hasher), redactor: createRedactor(data.redactor), gatewayId: data.gatewayId, paths: new Map() };
const profiles = new Map<number, Profile>();
const port = parentPort!;

port.on('message', (msg: OutMessage) => {
  for (const [id, p] of msg.profiles) profiles.set(id, p);
  const n = msg.meta.length / META_WIDTH;
  const out: unknown[] = [];
  const errors: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      pushFields(out, payloadFields(unpackInput(msg, i, profiles), deps));
    } catch (err) {
      pushFailure(out);
      errors.push((err as Error).message);
    }
  }
  port.postMessage({ id: msg.id, out, errors });
});
port.postMessage({ ready: true, probe: deps.hasher.hashPayload(PROBE) });
