/**
 * `npm run bench:crash-window`: how many events, and how old, a SIGKILL of the process running
 * the Kafka sink loses: its crash window. A child process runs a Kafka sink on the shared broker
 * at a steady rate and records every event id with its emit time before emitting it (written to
 * a file with writeSync, which a SIGKILL does not undo); it is killed at a random moment after a
 * warm-up; a new sink on the same spill directory replays what was spilled; then the topic is
 * read back. Lost = ids recorded but absent from the topic; window = kill time − emit time of the
 * oldest lost event. Run for each `stallMs` (the setting that bounds the window) in BENCH_STALLS.
 * Writes bench/results/crash-window.json. Environment: BENCH_RATE (events/s, default 400),
 * BENCH_KILLS (per setting, default 5), BENCH_STALLS (default "1000,200"),
 * MLGATE_TEST_KAFKA_BROKERS (default 127.0.0.1:19092).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { silentLogger } from '../services/core/log.ts';
import { KafkaSink, type KafkaSinkOptions } from '../services/telemetry/kafka-sink.ts';
import { sampleEvent } from '../test/support/events.ts';

const BROKERS = (process.env.MLGATE_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const RATE = Number(process.env.BENCH_RATE ?? 400);
const KILLS = Number(process.env.BENCH_KILLS ?? 5);
const STALLS = (process.env.BENCH_STALLS ?? '1000,200').split(',').map(Number);

function sinkOptions(topic: string, dir: string, stallMs: number): KafkaSinkOptions {
  return {
    brokers: BROKERS, clientId: 'mlgate-bench-crash', topic, partitions: 6,
    queue: { maxEvents: 50_000, highWater: 10_000 }, batch: { maxEvents: 1000, maxBytes: 512 * 1024, lingerMs: 5 },
    stallMs, spill: { dir, fsync: 'interval' }, logger: silentLogger(),
  };
}

/** Child: emit at RATE until killed; each id and its emit time go to the ids file first. */
async function child(topic: string, dir: string, idsFile: string, stallMs: number): Promise<void> {
  const sink = new KafkaSink(sinkOptions(topic, dir, stallMs));
  const fd = openSync(idsFile, 'a');
  const perTick = Math.max(1, Math.round(RATE / 100));
  let sent = false;
  for (;;) {
    const events = Array.from({ length: perTick }, () => sampleEvent());
    const now = Date.now();
    writeSync(fd, events.map((e) => `${e.event_id},${now}\n`).join(''));
    for (const e of events) sink.emit(e);
    if (!sent && sink.stats().sent > 0) {
      sent = true;
      process.stdout.write('sending\n');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every key in `topic`, read until `want` are all seen or nothing new arrives for 3 s. */
async function readKeys(kafka: Kafka, topic: string, want: Set<string>): Promise<Set<string>> {
  const consumer = kafka.consumer({ groupId: `bench-crash-${Date.now()}`, maxWaitTimeInMs: 200 });
  const seen = new Set<string>();
  let last = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachBatch: async ({ batch }) => { for (const m of batch.messages) seen.add(m.key?.toString() ?? ''); last = Date.now(); } });
  while (Date.now() - last < 3000 && [...want].some((id) => !seen.has(id))) await new Promise((r) => setTimeout(r, 200));
  await consumer.disconnect();
  return seen;
}

interface Round { stallMs: number; emitted: number; lost: number; windowMs: number; spilledReplayed: number }

async function round(kafka: Kafka, stallMs: number, i: number): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-crash-'));
  const topic = `bench.crash.${Date.now().toString(36)}.${i}`;
  const idsFile = join(dir, 'ids.csv');
  try {
    const proc = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, 'child', topic, join(dir, 'spill'), idsFile, String(stallMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    const exited = new Promise((r) => proc.once('exit', r));
    const t0 = Date.now();
    while (!out.includes('sending')) {
      if (Date.now() - t0 > 60_000) throw new Error('child never sent');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 2000 + Math.random() * 2000));
    const killedAt = Date.now();
    proc.kill('SIGKILL');
    await exited;
    const emitted = readFileSync(idsFile, 'utf8').trim().split('\n').map((l) => l.split(',') as [string, string]);
    const sink = new KafkaSink(sinkOptions(topic, join(dir, 'spill'), stallMs));
    const leftover = sink.spillBacklog();
    const deadline = Date.now() + 60_000;
    while (sink.spillBacklog() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await sink.close();
    const seen = await readKeys(kafka, topic, new Set(emitted.map(([id]) => id)));
    const lost = emitted.filter(([id]) => !seen.has(id));
    const oldest = lost.reduce((m, [, ts]) => Math.min(m, Number(ts)), Infinity);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    return { stallMs, emitted: emitted.length, lost: lost.length, windowMs: lost.length ? killedAt - oldest : 0, spilledReplayed: leftover };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: 'mlgate-bench-crash', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const rounds: Round[] = [];
  const load = loadavg()[0]!;
  for (const stallMs of STALLS) {
    for (let i = 0; i < KILLS; i++) {
      const r = await round(kafka, stallMs, i);
      rounds.push(r);
      console.log(`stallMs ${String(stallMs).padStart(5)}  kill ${i + 1}: emitted ${r.emitted}, lost ${r.lost} (window ${r.windowMs} ms), replayed from spill ${r.spilledReplayed}`);
    }
  }
  console.log('\n| stallMs | kills | lost per kill (max) | window, max of kills (ms) |');
  console.log('| --- | --- | --- | --- |');
  const summary = STALLS.map((stallMs) => {
    const rs = rounds.filter((r) => r.stallMs === stallMs);
    const s = { stallMs, kills: rs.length, lostMax: Math.max(...rs.map((r) => r.lost)), lostMedian: rs.map((r) => r.lost).sort((a, b) => a - b)[rs.length >> 1]!, windowMaxMs: Math.max(...rs.map((r) => r.windowMs)) };
    console.log(`| ${stallMs} | ${s.kills} | ${s.lostMedian} median (${s.lostMax}) | ${s.windowMaxMs} |`);
    return s;
  });
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/crash-window.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), rate: RATE, loadavg1: load, summary, rounds }, null, 2));
}

if (process.argv[2] === 'child') {
  const [, , , topic, dir, idsFile, stall] = process.argv as [string, string, string, string, string, string, string];
  void child(topic, dir, idsFile, Number(stall));
} else {
  await main();
}
