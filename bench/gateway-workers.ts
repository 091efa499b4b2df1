/**
 * Gateway workers benchmark (issue 19): side by side in one run, on this machine,
 *   bare_1   wrk -> node:http + undici Pool pass-through, one process             -> stand-ins
 *   bare_2   the same pass-through in 2 node:cluster workers on one port (`bare_cluster`)
 *   gw_1     wrk -> `mlgate gateway` with gateway.workers: 1 (one process)         -> stand-ins
 *   gw_2     wrk -> `mlgate gateway` with gateway.workers: 2 (primary + 2 workers) -> stand-ins
 * The gateways are real `mlgate gateway --config FILE` processes, as the CLI runs them, with the
 * real Kafka telemetry sink (a cluster worker is a whole gateway process: the counting sink of
 * bench/gateway.ts cannot be put in it): one event per request to a topic of this run on
 * MLGATE_TEST_KAFKA_BROKERS (default 127.0.0.1:19092), deleted at the end. Model as the
 * `gateway` side of bench:gateway: two stand-in versions weighted 90/10, tracing at 1%.
 *
 * 1. Peak: wrk -t1 -c32 for BENCH_SECONDS (default 4) per run after a 2 s warm-up, BENCH_ROUNDS
 *    (default 3) interleaved rounds; best run per side and the median over rounds of the ratio
 *    within a round: gw_2/gw_1, bare_2/bare_1, gw_1/bare_1, gw_2/bare_2. CPU per request sums
 *    every process of a side (the cluster primary and its workers), read from /proc.
 * 2. Hostile body: wrk paced at half gw_1's peak (random per-connection pauses) against gw_1, and
 *    against gw_2 at the same rate, each round once alone and once while a second client sends
 *    1 MiB JSON bodies (one string full of e-mail-like tokens and near-miss card, IBAN and phone
 *    digits, for the redactor) in a loop, BENCH_HOSTILE_CONCURRENCY (default 1) in flight; the
 *    normal requests' p50/p99 without and with it, and the hostile requests' rate and statuses.
 * Prints a markdown table, writes bench/results/gateway-workers.json.
 * Run: npm run bench:gateway:workers
 */
import { cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { median } from 'simple-statistics';
import { Pool } from 'undici';
import { wrk, type WrkResult } from './gateway/wrk.ts';
import { BODY, server, stop, type Server } from './gateway/servers.ts';
import { startMlgateGateway, type MlgateGateway } from './gateway/mlgate-process.ts';
import { treeCpuUs } from './gateway/proc-cpu.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HOSTILE_CONCURRENCY = Number(process.env.BENCH_HOSTILE_CONCURRENCY ?? 1);
const BROKERS = (process.env.MLGATE_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const CONNECTIONS = 32;
const THREADS = 1;
const WARMUP_S = Math.min(2, SECONDS);
/** A model name of this run: the gateways follow the shared control topic, keyed by model. */
const MODEL = `bench-workers-${process.pid}`;
const PATH = `/v1/models/${MODEL}/predict`;
const TOPIC = `bench.gateway-workers.${Date.now()}.${process.pid}`;
const MiB = 1 << 20;

/**
 * A JSON body of exactly 1 MiB (the gateway's default maxBodyBytes, which still accepts it): one
 * string of e-mail-like tokens, near-miss card numbers (fail Luhn), near-miss IBANs and phone-like
 * digit runs, so the redactor has candidates all the way through.
 */
function hostileBody(): Buffer {
  const unit = 'write to jane.doe42@example.com or j.d+x@mail.example.org; card 4111 1111 1111 1112, '
    + 'iban DE89 3704 0044 0532 0130 01, tel +1 555 0100 99, id 123-45-678 ';
  const head = '{"lang":"en","text":"';
  const tail = '"}';
  const room = MiB - head.length - tail.length;
  const text = unit.repeat(Math.ceil(room / unit.length)).slice(0, room);
  const b = Buffer.from(head + text + tail);
  if (b.length !== MiB) throw new Error(`hostile body is ${b.length} bytes`);
  JSON.parse(b.toString());
  return b;
}

/** One measured side: something wrk drives, and the CPU of its whole process tree. */
interface Side {
  name: string;
  url: string;
  cpu(): number;
}

/** A wrk result plus the CPU the measured side (all its processes) spent per request. */
interface Run extends WrkResult {
  cpuUsPerRequest: number;
}

/** What the hostile client saw during one run. */
interface HostileRun {
  requests: number;
  elapsed_s: number;
  rps: number;
  p50_ms: number;
  max_ms: number;
  statuses: Record<string, number>;
}

async function run(side: Side, meanDelayMs?: number, label = side.name): Promise<Run> {
  const before = side.cpu();
  const r = await wrk({ url: side.url + PATH, body: BODY, seconds: SECONDS, connections: CONNECTIONS, threads: THREADS, ...(meanDelayMs !== undefined ? { meanDelayMs } : {}) });
  const cpuUsPerRequest = (side.cpu() - before) / Math.max(1, r.requests);
  console.log(`  ${label.padEnd(14)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  cpu ${cpuUsPerRequest.toFixed(1)} µs/req  errors ${r.errors}`);
  return { ...r, cpuUsPerRequest };
}

/** Sends `body` to `url` in a loop, `concurrency` in flight, until `until` settles. */
async function hostile(url: string, body: Buffer, concurrency: number, until: Promise<unknown>): Promise<HostileRun> {
  const pool = new Pool(url, { connections: concurrency, bodyTimeout: 60_000, headersTimeout: 60_000 });
  let done = false;
  void until.finally(() => { done = true; });
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (!done) {
      const s = performance.now();
      let status: string;
      try {
        const res = await pool.request({ method: 'POST', path: PATH, headers: { 'content-type': 'application/json' }, body });
        await res.body.dump();
        status = String(res.statusCode);
      } catch (err) {
        status = `error ${(err as { code?: string }).code ?? (err as Error).message}`;
      }
      latencies.push(performance.now() - s);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  await pool.close();
  const n = latencies.length;
  return {
    requests: n, elapsed_s: round(elapsed, 2), rps: round(n / elapsed, 2),
    p50_ms: n ? round(median(latencies), 1) : 0, max_ms: n ? round(Math.max(...latencies), 1) : 0, statuses,
  };
}

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});
const warm = (url: string) => wrk({ url: url + PATH, body: BODY, seconds: WARMUP_S, connections: CONNECTIONS, threads: THREADS });
const best = <T>(rs: T[], by: (r: T) => number) => rs.reduce((a, b) => (by(b) < by(a) ? b : a));
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;
const row = (r: Run) => ({ rps: round(r.rps, 1), p50_ms: round(r.p50Ms), p99_ms: round(r.p99Ms), requests: r.requests, errors: r.errors, server_cpu_us_per_request: round(r.cpuUsPerRequest, 1) });

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg()[0]!;
  const note = `this machine has ${cpus().length} cores shared by wrk, the stand-ins, Kafka's client work and the servers measured (and the Kafka broker if it runs here): 2 processes cannot show the scaling a host with spare cores would`;
  console.log(`gateway workers benchmark: wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} interleaved rounds; ${cpus().length} CPUs (load ${load.toFixed(1)}); node ${process.version}`);
  console.log(`note: ${note}`);
  console.log(`gateways: \`mlgate gateway\` processes with the real Kafka sink (${BROKERS.join(',')}, topic ${TOPIC}); the bare proxies send no telemetry`);
  const kafka = new Kafka({ clientId: 'mlgate-bench-workers', brokers: BROKERS, logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: 2, replicationFactor: 1 }] });
  const gateways: MlgateGateway[] = [];
  const servers: Server[] = [];
  try {
    const standins = await server('standin');
    servers.push(standins);
    const [a, b] = standins.urls as [string, string];
    const bare1 = await server('bare', [a]);
    servers.push(bare1);
    const bare2 = await server('bare_cluster', [a, '2']);
    servers.push(bare2);
    const gwOpts = { upstreams: [a, b] as [string, string], model: MODEL, brokers: BROKERS, topic: TOPIC };
    const g1 = await startMlgateGateway({ ...gwOpts, workers: 1, port: await freePort(), adminPort: await freePort() });
    gateways.push(g1);
    const g2 = await startMlgateGateway({ ...gwOpts, workers: 2, port: await freePort(), adminPort: await freePort() });
    gateways.push(g2);
    if (g2.workerPids.length !== 2) throw new Error(`workers: 2 logged ${g2.workerPids.length} ready workers`);
    const sides: Record<'bare_1' | 'bare_2' | 'gw_1' | 'gw_2', Side> = {
      bare_1: { name: 'bare_1', url: bare1.url!, cpu: () => treeCpuUs(bare1.child.pid!) },
      bare_2: { name: 'bare_2', url: bare2.url!, cpu: () => treeCpuUs(bare2.child.pid!) },
      gw_1: { name: 'gw_1', url: g1.url, cpu: () => g1.cpu() },
      gw_2: { name: 'gw_2', url: g2.url, cpu: () => g2.cpu() },
    };
    const names = Object.keys(sides) as Array<keyof typeof sides>;
    for (const k of names) await warm(sides[k].url);

    console.log('peak:');
    const runs = Object.fromEntries(names.map((k) => [k, [] as Run[]])) as Record<keyof typeof sides, Run[]>;
    for (let i = 0; i < ROUNDS; i++) {
      // Rotate the order each round, so no side always runs first after the others' load.
      for (let j = 0; j < names.length; j++) {
        const k = names[(i + j) % names.length]!;
        runs[k].push(await run(sides[k]));
      }
    }
    const peak = Object.fromEntries(names.map((k) => [k, best(runs[k], (r) => -r.rps)])) as Record<keyof typeof sides, Run>;
    const cpuPerReq = Object.fromEntries(names.map((k) => [k, Math.min(...runs[k].map((r) => r.cpuUsPerRequest))])) as Record<keyof typeof sides, number>;
    const ratio = (x: keyof typeof sides, y: keyof typeof sides) => ({
      best: round(peak[x].rps / peak[y].rps),
      median_of_rounds: round(median(runs[x].map((r, i) => r.rps / runs[y][i]!.rps))),
      cpu_per_request: round(cpuPerReq[x] / cpuPerReq[y]),
    });
    const ratios = { gw2_over_gw1: ratio('gw_2', 'gw_1'), bare2_over_bare1: ratio('bare_2', 'bare_1'), gw1_over_bare1: ratio('gw_1', 'bare_1'), gw2_over_bare2: ratio('gw_2', 'bare_2') };
    // The bare proxies are done: they would only take memory from here on.
    await stop(bare2.child);
    await stop(bare1.child);

    const body = hostileBody();
    const rate = peak.gw_1.rps / 2;
    // Pause per connection so that CONNECTIONS connections offer `rate` requests/s in total.
    const meanDelayMs = Math.max(0, (CONNECTIONS * 1000) / rate - peak.gw_1.p50Ms / 2);
    console.log(`hostile body: wrk paced at about ${rate.toFixed(0)} req/s (half gw_1's peak; mean pause ${meanDelayMs.toFixed(1)} ms per connection), alone and with a client sending ${body.length}-byte JSON bodies, ${HOSTILE_CONCURRENCY} in flight:`);
    const hostileSides = ['gw_1', 'gw_2'] as const;
    const paced = Object.fromEntries(hostileSides.map((k) => [k, { alone: [] as Run[], with_hostile: [] as Run[], hostile: [] as HostileRun[] }])) as Record<(typeof hostileSides)[number], { alone: Run[]; with_hostile: Run[]; hostile: HostileRun[] }>;
    for (let i = 0; i < ROUNDS; i++) {
      for (const k of hostileSides) {
        const side = sides[k];
        const withHostile = async () => {
          let finished!: () => void;
          const over = new Promise<void>((r) => { finished = r; });
          const h = hostile(side.url, body, HOSTILE_CONCURRENCY, over);
          const r = await run(side, meanDelayMs, `${k} + hostile`);
          finished();
          const hr = await h;
          console.log(`  ${''.padEnd(14)} hostile: ${hr.requests} requests (${hr.rps.toFixed(1)}/s, p50 ${hr.p50_ms} ms, max ${hr.max_ms} ms) ${JSON.stringify(hr.statuses)}`);
          paced[k].with_hostile.push(r);
          paced[k].hostile.push(hr);
        };
        const alone = async () => { paced[k].alone.push(await run(side, meanDelayMs, `${k} alone`)); };
        // Alternate which condition goes first, so drift over the run does not favour one.
        if (i % 2 === 0) { await alone(); await withHostile(); } else { await withHostile(); await alone(); }
      }
    }
    const summarize = (p: { alone: Run[]; with_hostile: Run[]; hostile: HostileRun[] }) => {
      const statuses: Record<string, number> = {};
      for (const h of p.hostile) for (const [s, n] of Object.entries(h.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
      const hostileRequests = p.hostile.reduce((s, h) => s + h.requests, 0);
      return {
        // Best run of each condition (lowest p99), and the median over rounds of the differences.
        alone: row(best(p.alone, (r) => r.p99Ms)),
        with_hostile: row(best(p.with_hostile, (r) => r.p99Ms)),
        p50_added_ms_median_of_rounds: round(median(p.with_hostile.map((r, i) => r.p50Ms - p.alone[i]!.p50Ms))),
        p99_added_ms_median_of_rounds: round(median(p.with_hostile.map((r, i) => r.p99Ms - p.alone[i]!.p99Ms))),
        hostile: {
          requests: hostileRequests,
          rps: round(hostileRequests / p.hostile.reduce((s, h) => s + h.elapsed_s, 0), 2),
          p50_ms_median_of_rounds: round(median(p.hostile.map((h) => h.p50_ms)), 1),
          statuses,
        },
        runs: { alone: p.alone.map(row), with_hostile: p.with_hostile.map(row), hostile: p.hostile },
      };
    };
    const hostileResult = { gw_1: summarize(paced.gw_1), gw_2: summarize(paced.gw_2) };

    const warnings = Object.fromEntries(gateways.map((g, i) => [`gw_${i + 1}`, g.warnings.slice(0, 10)]));
    for (const g of gateways.splice(0)) await g.stop();
    for (const s of servers.splice(0)) await stop(s.child);

    const result = {
      benchmark: 'gateway-workers',
      command: 'npm run bench:gateway:workers',
      at: new Date(started).toISOString(),
      duration_s: round((Date.now() - started) / 1000, 1),
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '', node: process.version, load_avg_1m_at_start: round(load, 2) },
      note,
      settings: {
        wrk: `-t${THREADS} -c${CONNECTIONS} -d${SECONDS}s --latency, ${ROUNDS} interleaved rounds (order rotated each round), best run per side and median of per-round ratios, ${WARMUP_S} s warm-up per side`,
        wrk_threads: `${THREADS}: one wrk thread issues far more requests than these servers answer here, and a second would take CPU from them`,
        body_bytes: Buffer.byteLength(BODY),
        bare_1: 'node:http + undici Pool pass-through to one stand-in, one process, no telemetry',
        bare_2: 'the same pass-through in 2 node:cluster workers on one port (round-robin hand-over by the primary, as gateway.workers does)',
        gateway: `\`mlgate gateway --config FILE\`, weights 90/10 over two stand-ins, tracing at 1% (exporter none), telemetry into Kafka (${BROKERS.join(',')}, one topic of this run with 2 partitions, deleted at the end): the real sink, since each cluster worker is a whole gateway process`,
        gw_1: 'gateway.workers: 1 (one process, no cluster)',
        gw_2: 'gateway.workers: 2 (a primary that serves nothing and 2 workers)',
        cpu: 'server CPU per request: utime + stime from /proc of the side\'s process and all its descendants (cluster primary and workers), over the wrk run',
        hostile: `wrk paced at half gw_1's peak (random per-connection pause, mean ${round(meanDelayMs, 2)} ms) against gw_1 and gw_2 at the same rate, alone and with a client sending ${MiB}-byte JSON bodies (one string of e-mail-like tokens and near-miss card, IBAN, phone and SSN digits) in a loop, ${HOSTILE_CONCURRENCY} in flight over keep-alive (so on gw_2 they reach one worker); order of the two conditions alternates per round`,
      },
      results: { bare_1: row(peak.bare_1), bare_2: row(peak.bare_2), gw_1: row(peak.gw_1), gw_2: row(peak.gw_2) },
      server_cpu_us_per_request: Object.fromEntries(names.map((k) => [k, round(cpuPerReq[k], 1)])),
      runs: Object.fromEntries(names.map((k) => [k, runs[k].map(row)])),
      ratios,
      hostile: { target_rps: round(rate, 1), mean_pause_ms_per_connection: round(meanDelayMs, 2), ...hostileResult },
      gateway_warnings: warnings,
    };

    console.log('');
    console.log(`note: ${note}`);
    console.log('');
    console.log('| side   | processes |   req/s |  p50 ms |  p99 ms | CPU µs/req (all processes) |');
    console.log('|--------|-----------|--------:|--------:|--------:|---------------------------:|');
    const procs = { bare_1: '1', bare_2: '1 + 2', gw_1: '1', gw_2: '1 + 2' };
    for (const k of names) {
      const r = peak[k];
      console.log(`| ${k.padEnd(6)} | ${procs[k].padEnd(9)} | ${r.rps.toFixed(0).padStart(7)} | ${r.p50Ms.toFixed(2).padStart(7)} | ${r.p99Ms.toFixed(2).padStart(7)} | ${cpuPerReq[k].toFixed(1).padStart(26)} |`);
    }
    console.log('');
    console.log('| ratio            | best vs best | median of rounds | CPU per request |');
    console.log('|------------------|-------------:|-----------------:|----------------:|');
    for (const [k, v] of Object.entries(ratios)) console.log(`| ${k.padEnd(16)} | ${v.best.toFixed(2).padStart(12)} | ${v.median_of_rounds.toFixed(2).padStart(16)} | ${v.cpu_per_request.toFixed(2).padStart(15)} |`);
    console.log('');
    console.log(`hostile 1 MiB bodies (${HOSTILE_CONCURRENCY} in flight) while wrk offers ~${rate.toFixed(0)} req/s of normal requests:`);
    console.log('| side | normal req/s alone | with hostile | normal p50 alone | with hostile | normal p99 alone | with hostile | p99 added (median of rounds) | hostile req/s | hostile statuses |');
    console.log('|------|-------------------:|-------------:|-----------------:|-------------:|-----------------:|-------------:|-----------------------------:|--------------:|------------------|');
    for (const k of hostileSides) {
      const h = hostileResult[k];
      console.log(`| ${k} | ${h.alone.rps.toFixed(0)} | ${h.with_hostile.rps.toFixed(0)} | ${h.alone.p50_ms.toFixed(2)} | ${h.with_hostile.p50_ms.toFixed(2)} | ${h.alone.p99_ms.toFixed(2)} | ${h.with_hostile.p99_ms.toFixed(2)} | ${h.p99_added_ms_median_of_rounds.toFixed(2)} | ${h.hostile.rps.toFixed(1)} | ${Object.entries(h.hostile.statuses).map(([s, n]) => `${s}: ${n}`).join(', ')} |`);
    }
    console.log('(wrk\'s pacing is closed-loop: each connection pauses after its answer, so when answers slow down the offered rate drops too; compare the req/s columns)');
    // Expected: these gateways run without a warehouse (admin changes in memory only).
    for (const [k, w] of Object.entries(warnings)) {
      const other = [...new Set(w)].filter((m) => !m.startsWith('no warehouse section'));
      if (other.length) console.log(`${k} logged warnings: ${other.join('; ')}`);
    }
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'gateway-workers.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log('wrote bench/results/gateway-workers.json');
  } finally {
    for (const g of gateways) await g.stop().catch(() => g.kill());
    for (const s of servers) await stop(s.child).catch(() => {});
    try { await admin.deleteTopics({ topics: [TOPIC] }); } catch (err) { console.error(`could not delete topic ${TOPIC}: ${(err as Error).message}`); }
    await admin.disconnect();
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
