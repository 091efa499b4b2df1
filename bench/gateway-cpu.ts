/**
 * CPU per request of the gateway's request thread, side by side, for tuning: where
 * `bench:gateway` asks "how far from the bare proxy", this asks "did this change make the
 * gateway cheaper". On a shared machine throughput swings with the host, while the CPU time a
 * thread spends per request moves less; many short interleaved runs and their median (and
 * fastest) make a difference of a few µs visible.
 *
 *   npm run bench:gateway:cpu -- [--rounds 12] [--seconds 2] [--against REV] [side ...]
 *
 * Sides: bare, gateway (default: both), gateway_edge, and ablations
 * `gateway-without:<part>,...` (parts: events, metrics, tracing, capture; bench/gateway/server.ts
 * replaces them by no-ops) to see what each part of the gateway's work costs. A gateway side
 * counts its events into a sink that discards them unless it ends in `+kafka` (the Kafka sink on
 * the main thread) or `+thread_kafka` (the Kafka sink in the telemetry thread, as `mlgate gateway`
 * runs by default on a host with a spare core); those need the broker at BENCH_KAFKA_BROKERS. `--against REV` adds the
 * gateway of another revision (checked out in a git worktree under the system temp dir, with
 * this checkout's node_modules). Each round runs `wrk -t1 -c32` for `--seconds` on every side
 * in turn and reads, from /proc (Linux), the CPU time of the server's main thread and of all its
 * threads around the run. Prints a table; writes bench/results/gateway-cpu.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from 'simple-statistics';
import { BODY, PATH, server, stop, type Server } from './gateway/servers.ts';
import { wrk } from './gateway/wrk.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KINDS = new Set(['bare', 'gateway', 'gateway_edge']);

const { values, positionals } = parseArgs({
  options: { rounds: { type: 'string', default: '12' }, seconds: { type: 'string', default: '2' }, against: { type: 'string' } },
  allowPositionals: true,
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
if (!(ROUNDS >= 1) || !(SECONDS >= 1)) throw new Error('--rounds and --seconds must be at least 1');
const kinds = positionals.length ? positionals : ['bare', 'gateway'];
for (const k of kinds) {
  const [base, sink] = k.split('+');
  if ((!KINDS.has(base!) && !/^gateway-without:[a-z]+(,[a-z]+)*$/.test(base!)) || (sink !== undefined && (base === 'bare' || !['kafka', 'thread_kafka'].includes(sink)))) {
    throw new Error(`unknown side ${k} (one of ${[...KINDS].join(', ')}, gateway-without:<part>,..., each gateway side optionally +kafka or +thread_kafka)`);
  }
}
if (!existsSync('/proc/self/task')) throw new Error('bench:gateway:cpu reads per-thread CPU from /proc: Linux only');

const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** User + system CPU (µs) of one thread of `pid`. */
function threadCpu(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US;
}

/** A checkout of `rev` in a worktree (made once), sharing this checkout's node_modules. */
function worktree(rev: string): { root: string; label: string } {
  const sha = execFileSync('git', ['rev-parse', '--short', rev], { cwd: ROOT, encoding: 'utf8' }).trim();
  const root = join(tmpdir(), `mlgate-bench-${sha}`);
  if (!existsSync(root)) {
    execFileSync('git', ['worktree', 'add', '--detach', root, sha], { cwd: ROOT, stdio: 'ignore' });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  }
  return { root, label: `gateway@${sha}` };
}

interface Side {
  label: string;
  srv: Server;
  runs: Array<{ rps: number; mainUs: number; allUs: number }>;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  const load = loadavg()[0]!;
  console.log(`gateway CPU benchmark: ${ROUNDS} rounds of wrk -t1 -c32 -d${SECONDS}s per side; ${cpus().length} CPUs (load ${load.toFixed(1)}); node ${process.version}`);
  const standins = await server('standin');
  const [a, b] = standins.urls!;
  const sides: Side[] = [];
  for (const k of kinds) sides.push({ label: k, srv: await server(k, k === 'bare' ? [a!] : [a!, b!]), runs: [] });
  if (values.against) {
    const wt = worktree(values.against);
    sides.push({ label: wt.label, srv: await server('gateway', [a!, b!], wt.root), runs: [] });
  }
  const headers = (s: Side) => (s.srv.key ? { 'x-api-key': s.srv.key } : undefined);
  for (const s of sides) await wrk({ url: s.srv.url! + PATH, body: BODY, seconds: 2, connections: 32, threads: 1, headers: headers(s) });
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of sides) {
      const pid = s.srv.child.pid!;
      const main0 = threadCpu(pid, pid);
      const all0 = await s.srv.cpu();
      const w = await wrk({ url: s.srv.url! + PATH, body: BODY, seconds: SECONDS, connections: 32, threads: 1, headers: headers(s) });
      const main1 = threadCpu(pid, pid);
      const all1 = await s.srv.cpu();
      if (w.errors > 0) throw new Error(`${s.label}: ${w.errors} failed requests in round ${r + 1}`);
      s.runs.push({ rps: w.rps, mainUs: (main1 - main0) / w.requests, allUs: (all1 - all0) / w.requests });
    }
    process.stdout.write(`round ${r + 1}/${ROUNDS}\r`);
  }
  for (const s of [...sides.map((x) => x.srv), standins]) await stop(s.child);

  const base = sides[0]!;
  const rows = sides.map((s) => ({
    side: s.label,
    rps_median: Math.round(median(s.runs.map((x) => x.rps))),
    main_us_median: round1(median(s.runs.map((x) => x.mainUs))),
    main_us_min: round1(Math.min(...s.runs.map((x) => x.mainUs))),
    all_threads_us_median: round1(median(s.runs.map((x) => x.allUs))),
    // Throughput against the first side, within each round, median over rounds.
    rps_vs_first_median_of_rounds: Math.round(median(s.runs.map((x, i) => x.rps / base.runs[i]!.rps)) * 1000) / 1000,
  }));
  console.log('');
  console.log(`| side | req/s (median) | main thread µs/req (median) | main thread µs/req (fastest run) | all threads µs/req (median) | req/s vs ${base.label} (median of rounds) |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.side} | ${r.rps_median} | ${r.main_us_median} | ${r.main_us_min} | ${r.all_threads_us_median} | ${r.rps_vs_first_median_of_rounds.toFixed(2)} |`);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'gateway-cpu.json'), `${JSON.stringify({
    benchmark: 'gateway-cpu', command: `npm run bench:gateway:cpu -- ${process.argv.slice(2).join(' ')}`.trim(), at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, load_avg_1m_at_start: Math.round(load * 100) / 100 },
    settings: { rounds: ROUNDS, seconds: SECONDS, wrk: '-t1 -c32', body_bytes: Buffer.byteLength(BODY) },
    results: rows,
    runs: Object.fromEntries(sides.map((s) => [s.label, s.runs.map((x) => ({ rps: Math.round(x.rps), main_us: round1(x.mainUs), all_us: round1(x.allUs) }))])),
  }, null, 2)}\n`);
  console.log('wrote bench/results/gateway-cpu.json');
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
