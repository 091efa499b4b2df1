/**
 * Worker thread of {@link WorkerKafkaTransport}: runs a {@link KafkaTransport} (kafkajs) off the
 * gateway's event loop. Protocol, parent → worker: `{ id, op: 'connect' | 'reset' | 'disconnect' }` and
 * `{ id, op: 'send', keys, values, ends }` (all values in one transferred buffer, `ends[i]` the
 * end of value i). Worker → parent: `{ id, ok: true, seconds?, offsets? }` (a send's duration and base offsets) or `{ id, ok: false, error }` (with the
kafkajs protocol error type found in the error, so the parent classifies it as kafka-errors.ts does),
 * and `{ log: { level, obj, msg } }` for kafkajs's log lines (the parent logs them).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { Logger } from '../core/log.ts';
import { protocolType } from './kafka-errors.ts';
import { KafkaTransport, type KafkaTransportOptions } from './kafka-transport.ts';
import type { EncodedEvent } from './queue.ts';
import type { PartitionOffsets } from './resend-window.ts';

/** Options the parent passes as workerData (the serialisable part of KafkaTransportOptions). */
export type KafkaWorkerData = Omit<KafkaTransportOptions, 'logger' | 'metrics' | 'quiet'>;

/** A request to the worker. */
export type WorkerRequest =
  | { id: number; op: 'connect' | 'reset' | 'disconnect' }
  | { id: number; op: 'send'; keys: string[]; values: Uint8Array; ends: number[] }
  | { op: 'quiet'; quiet: boolean };

/** A reply from the worker. */
export type WorkerReply =
  | { id: number; ok: true; seconds?: number; offsets?: PartitionOffsets }
  | { id: number; ok: false; error: { name: string; message: string; retriable?: boolean; type?: string } }
  | { log: { level: 'warn' | 'debug' | 'info' | 'error'; obj: Record<string, unknown>; msg: string } };

const port = parentPort!;
const data = workerData as KafkaWorkerData;
let quiet = false;

// A logger whose lines go to the parent, which writes them with its own bindings.
const forward = pino({ level: 'debug' }, {
  write(line: string) {
    try {
      const { level, msg, time: _t, pid: _p, hostname: _h, ...obj } = JSON.parse(line) as Record<string, unknown> & { level: number; msg: string };
      const name = level >= 50 ? 'error' : level >= 40 ? 'warn' : level >= 30 ? 'info' : 'debug';
      port.postMessage({ log: { level: name, obj, msg } } satisfies WorkerReply);
    } catch { /* a line we cannot parse is not worth a crash */ }
  },
}) as unknown as Logger;

let seconds = 0;
const transport = new KafkaTransport({
  ...data, logger: forward, quiet: () => quiet,
  metrics: { observeSend: (s: number) => { seconds = s; } } as never,
});

port.on('message', (m: WorkerRequest) => {
  if (m.op === 'quiet') {
    quiet = m.quiet;
    return;
  }
  const run = async (): Promise<{ seconds: number; offsets: PartitionOffsets } | undefined> => {
    if (m.op === 'connect') await transport.connect();
    else if (m.op === 'reset') await transport.reset();
    else if (m.op === 'disconnect') await transport.disconnect();
    else if (m.op === 'send') {
      const buf = Buffer.from(m.values.buffer, m.values.byteOffset, m.values.byteLength);
      const events: EncodedEvent[] = m.keys.map((key, i) => ({ key, value: buf.subarray(i ? m.ends[i - 1]! : 0, m.ends[i]!) }));
      const offsets = await transport.send(events);
      return { seconds, offsets };
    }
    return undefined;
  };
  run().then(
    (r) => port.postMessage({ id: m.id, ok: true, ...(r ?? {}) } satisfies WorkerReply),
    (err: unknown) => {
      const e = err as { name?: string; message?: string; retriable?: boolean };
      const type = protocolType(err);
      port.postMessage({
        id: m.id, ok: false,
        error: { name: e?.name ?? 'Error', message: e?.message ?? String(err), ...(typeof e?.retriable === 'boolean' ? { retriable: e.retriable } : {}), ...(type ? { type } : {}) },
      } satisfies WorkerReply);
    },
  );
});
