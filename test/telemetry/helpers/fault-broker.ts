/**
 * A private broker for fault tests (never the shared one): started with scripts/kafka.sh on its
 * own port and directory, advertising the port of a {@link KafkaProxy} in front of it, so that
 * every client goes through the proxy. It can be SIGKILLed and restarted on the same log
 * directory, or on a wiped one.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaProxy } from './kafka-proxy.ts';
import { consumeFromStart } from './kafka.ts';
import type { KafkaSink } from '../../../services/telemetry/kafka-sink.ts';
import { sampleEvent } from '../../support/events.ts';

const run = promisify(execFile);
const SCRIPT = new URL('../../../scripts/kafka.sh', import.meta.url).pathname;

/** The broker, its proxy and the fault operations. */
export interface FaultBroker {
  /** What clients connect to: the proxy. */
  readonly address: string;
  readonly proxy: KafkaProxy;
  /** SIGKILL (no clean shutdown); the log directory is kept. */
  kill(): Promise<void>;
  /** Starts again: on the same log directory, or with `wipe` on an empty one. */
  start(opts?: { wipe?: boolean }): Promise<void>;
  /** A kafkajs client for the test's own reads (through the proxy). */
  client(): Kafka;
  /** Stops the broker, removes its directory, closes the proxy. */
  destroy(): Promise<void>;
}

/** Starts a broker on `port` (+1 for its controller) behind a proxy on `proxyPort`. */
export async function startFaultBroker(port: number, proxyPort: number): Promise<FaultBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-fault-kafka-'));
  const env = { ...process.env, MLGATE_KAFKA_PORT: String(port), MLGATE_KAFKA_DIR: dir, MLGATE_KAFKA_ADVERTISED_PORT: String(proxyPort) };
  const proxy = await KafkaProxy.start(proxyPort, port);
  const script = (cmd: string, keep: boolean) => run('bash', [SCRIPT, cmd], { env: { ...env, MLGATE_KAFKA_KEEP: keep ? '1' : '0' } });
  try {
    await script('start', false);
  } catch (first) {
    // One more try: a broker can exit at start when the machine is loaded (its log says why).
    const why = (() => { try { return readFileSync(join(dir, 'stdout.log'), 'utf8').split('\n').filter((l) => /ERROR|Exception|FATAL/.test(l)).slice(-3).join('\n'); } catch { return ''; } })();
    console.error(`fault broker on ${port} did not start, retrying once: ${(first as Error).message}\n${why}`);
    try {
      await script('stop', false).catch(() => undefined);
      await script('start', false);
    } catch (err) {
      await proxy.close();
      throw err;
    }
  }
  return {
    address: `127.0.0.1:${proxyPort}`,
    proxy,
    kill: async () => { await script('kill', true); },
    start: async (opts = {}) => { await script('start', !opts.wipe); },
    client: () => new Kafka({ clientId: 'mlgate-fault-test', brokers: [`127.0.0.1:${proxyPort}`], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } }),
    destroy: async () => {
      await script('stop', false).catch(() => undefined);
      await proxy.close();
    },
  };
}

/** Distinct event ids (message keys) in `topic`, read until every id of `want` was seen (or the deadline). Also returns the message count. */
export async function distinctIds(kafka: Kafka, topic: string, want: readonly string[], timeoutMs = 60_000): Promise<{ ids: Set<string>; messages: number }> {
  const missing = new Set(want);
  const ids = new Set<string>();
  let messages = 0;
  await consumeFromStart(kafka, topic, (m) => {
    messages++;
    ids.add(m.key);
    missing.delete(m.key);
  }, () => missing.size === 0, timeoutMs, () => undefined);
  return { ids, messages };
}

/** Emits `perTick` events every 10 ms until stopped; returns every id emitted. */
export function load(sink: KafkaSink, perTick: number): { ids: string[]; stop: () => Promise<void> } {
  const ids: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (let i = 0; i < perTick; i++) {
        const e = sampleEvent();
        ids.push(e.event_id);
        sink.emit(e);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return { ids, stop: async () => { running = false; await loop; } };
}
