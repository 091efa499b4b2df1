/**
 * `npm run bench:sink-thread`: can the telemetry thread keep up? In one run:
 *   1. the gateway's peak: requests/s through the gateway with its sink in the telemetry thread
 *      (`gateway+thread_kafka` of bench/gateway/server.ts, Kafka on the shared broker), best of
 *      `--rounds` wrk runs (-t1 -c32, 3 s each);
 *   2. the thread alone: the same exchange (bench/gateway's body and answer) handed to a
 *      ThreadedSink as fast as its ring takes it, from the first record to every event
 *      acknowledged by Kafka (flush), and the CPU the thread spent per event.
 * Issue 19 asks for the thread's rate to be at least 2x the gateway's peak. Writes
 * bench/results/sink-thread.json. Environment: BENCH_KAFKA_BROKERS (default 127.0.0.1:19092).
 *
 *   npm run bench:sink-thread -- [--events 60000] [--rounds 3]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseConfig } from '../services/core/config.ts';
import { eventId } from '../services/gateway/proxy/ids.ts';
import { TelemetrySection } from '../services/telemetry/config.ts';
import type { EventRecord } from '../services/telemetry/event-builder.ts';
import { createHasher } from '../services/telemetry/hash.ts';
import { createRedactor } from '../services/telemetry/redact.ts';
import { ThreadedSink } from '../services/telemetry/threaded-sink.ts';
import { BODY, PATH, server, stop } from './gateway/servers.ts';
import { wrk } from './gateway/wrk.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { events: { type: 'string', default: '60000' }, rounds: { type: 'string', default: '3' } } });
const EVENTS = Number(values.events);
const ROUNDS = Number(values.rounds);
if (!(EVENTS >= 1000) || !(ROUNDS >= 1)) throw new Error('--events must be at least 1000 and --rounds at least 1');
const BROKERS = (process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const ANSWER = Buffer.from(JSON.stringify({ label: 'positive', score: 0.93, model: 'sentiment', latency_ms: 0 }));
const PREDICTION = { label: 'label', score: 'score' };
const TICK_US = 10_000; // Linux USER_HZ = 100

/** CPU (µs) of every thread of this process except the main thread. */
function otherThreadsCpu(): number {
  let us = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      us += (Number(f[11]) + Number(f[12])) * TICK_US;
    } catch { /* thread gone */ }
  }
  return us;
}

/** The exchange the gateway records for the benchmark's request (as gateway/observability/event-record.ts makes it). */
function record(): EventRecord {
  const id = eventId();
  return {
    event_id: id, ts: Date.now(), route: '/v1/models/{model}/predict', model: 'sentiment', version: 'stable', role: 'stable', rollout_id: '',
    consumer_id: '', method: 'POST', status: 200, outcome: 'ok', error_class: '', latency_ms: 1.2, upstream_latency_ms: 0.9, ttfb_ms: 1.0,
    request_bytes: BODY.length, response_bytes: ANSWER.length, correlation_id: id, trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331',
    cache: '', upstream_model: '', ttft_ms: null, itl_mean_ms: null, itl_p95_ms: null, generation_ms: null, price: undefined,
    requestBody: Buffer.from(BODY), requestContentType: 'application/json', responseBody: ANSWER, responseTail: null, responseContentType: 'application/json',
    prediction: PREDICTION, redaction: undefined,
  };
}

async function gatewayPeak(): Promise<number> {
  const standins = await server('standin');
  const [a, b] = standins.urls!;
  const gw = await server('gateway+thread_kafka', [a!, b!]);
  try {
    await wrk({ url: gw.url! + PATH, body: BODY, seconds: 2, connections: 32, threads: 1 });
    let best = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const w = await wrk({ url: gw.url! + PATH, body: BODY, seconds: 3, connections: 32, threads: 1 });
      if (w.errors > 0) throw new Error(`gateway: ${w.errors} failed requests`);
      best = Math.max(best, w.rps);
    }
    return best;
  } finally {
    await stop(gw.child);
    await stop(standins.child);
  }
}

async function threadAlone(): Promise<{ rate: number; cpuUsPerEvent: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-bench-thread-'));
  const hasher = { key: 'bench-hash-key-0123456789', keyId: 'k1' };
  const redactor = { maxChars: 2048 };
  const telemetry = parseConfig(TelemetrySection, { topic: `bench-thread-${process.pid}`, partitions: 1, hashing: hasher });
  const sink = await ThreadedSink.start({
    gatewayId: 'bench', hasher, redactor, hasherInstance: createHasher(hasher), redactorInstance: createRedactor(redactor), telemetry,
    kafka: { brokers: BROKERS, clientId: 'bench', connectionTimeoutMs: 3000, requestTimeoutMs: 30_000 }, dataDir: dir,
    service: 'bench', logLevel: 'warn', logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  try {
    // Warm up: connection, topic, JIT.
    for (let i = 0; i < 2000; i++) while (!sink.takeRecord(record())) await new Promise((r) => setTimeout(r, 1));
    await sink.flush();
    const cpu0 = otherThreadsCpu();
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) {
      // A full ring: wait for the thread (the gateway would build the event itself instead).
      while (!sink.takeRecord(record())) await new Promise((r) => setTimeout(r, 1));
      if (i % 256 === 255) await new Promise((r) => setImmediate(r));
    }
    await sink.flush();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = otherThreadsCpu() - cpu0;
    const s = sink.stats();
    if (s.sent !== EVENTS + 2000 || s.dropped || sink.builtHere) throw new Error(`the thread lost or did not build events: ${JSON.stringify(s)}, built here ${sink.builtHere}`);
    return { rate: EVENTS / seconds, cpuUsPerEvent: cpu / EVENTS };
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const load = loadavg()[0]!;
console.log(`sink-thread benchmark: ${EVENTS} events; ${cpus().length} CPUs (load ${load.toFixed(1)}); node ${process.version}`);
const peak = await gatewayPeak();
const alone = await threadAlone();
const ratio = alone.rate / peak;
console.log('');
console.log('| measure | value | against |');
console.log('| --- | ---: | --- |');
console.log(`| gateway peak (sink in the thread, Kafka) | ${Math.round(peak)} req/s | |`);
console.log(`| telemetry thread alone: record in -> acked by Kafka | ${Math.round(alone.rate)} events/s | ${ratio.toFixed(2)}x the gateway's peak (issue 19: >= 2x) |`);
console.log(`| CPU of the process's other threads per event (telemetry thread, Kafka client, GC) | ${alone.cpuUsPerEvent.toFixed(1)} us | |`);
writeFileSync(join(ROOT, 'bench/results/sink-thread.json'), `${JSON.stringify({
  benchmark: 'sink-thread', command: `npm run bench:sink-thread -- ${process.argv.slice(2).join(' ')}`.trim(), at: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version, load_avg_1m_at_start: Math.round(load * 100) / 100 },
  settings: { events: EVENTS, rounds: ROUNDS, wrk: '-t1 -c32 -d3s', body_bytes: BODY.length },
  results: { gateway_peak_rps: Math.round(peak), thread_events_per_s: Math.round(alone.rate), ratio: Math.round(ratio * 100) / 100, thread_cpu_us_per_event: Math.round(alone.cpuUsPerEvent * 10) / 10 },
}, null, 2)}\n`);
console.log('wrote bench/results/sink-thread.json');
process.exit(0);
