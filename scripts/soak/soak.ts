/**
 * `npm run soak`: the distributed deployment as separate processes on 127.0.0.1, under load,
 * with faults injected at random from a seeded schedule, then checked end to end.
 *
 * Processes: a private Kafka broker (scripts/kafka.sh, behind a proxy; never the shared one), the
 * warehouse host (warehouse-host.ts: ClickHouse's engine through its HTTP interface, see there
 * why), the stand-in models v1 and v2, two gateways, two ingesters in one consumer group and two
 * controllers (Kafka leader election). This process is the load generator (both gateways,
 * alternating), the operator (rollouts one after another through the controllers' API: v2 over
 * v1, then v1 over v2, and so on, each started once the previous one ended, until the time is
 * up) and the fault injector.
 *
 * Faults, one at a time, each recovered before the next (a seeded shuffle of every kind per
 * round, so each kind comes once per round): SIGKILL and restart of a gateway, an ingester, a
 * controller; a broker SIGKILL and restart; a warehouse outage (its process SIGKILLed, restarted
 * seconds later); a leadership change mid-step (the leading controller stopped with SIGTERM,
 * restarted once the other leads).
 *
 * Checks at the end, printed and written to SOAK_OUT (default bench/results/soak.json):
 * - per gateway, requests answered (a response carrying x-mlgate-event-id) vs their events in
 *   ClickHouse: every answered request stored, except those a SIGKILLed gateway answered in the
 *   documented crash window before the kill (counted, and bounded);
 * - duplicates: rows minus distinct event ids, zero;
 * - decisions: the hash chains verify, no chain fork, routing generations only rise;
 * - every rollout ends `promoted`, as it does without faults (both versions are equally healthy);
 * - every kind of fault in each whole 5-minute window of the run;
 * - request success rate during the run.
 *
 * Environment: SOAK_SECONDS (default 1800), SOAK_SEED (default 1), SOAK_RPS (total, default 40),
 * SOAK_FAULT_GAP_S (mean seconds between faults, default 15: a round of the six kinds then takes
 * about two minutes with recoveries, so every whole 5-minute window holds each kind), SOAK_STEP_S (a rollout step's minimum
 * length, default 20), SOAK_PORT_BASE (default 28300: below Linux's ephemeral port range, so no outgoing connection takes a service's port),
 * SOAK_OUT, SOAK_KEEP=1 keeps the working directory. Exit 0 when every check passes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { stringify } from 'yaml';
import { silentLogger } from '../../services/core/log.ts';
import { verifyChains } from '../../services/audit/verify.ts';
import { createWarehouse, type Warehouse } from '../../services/warehouse/warehouse.ts';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { startFaultBroker, type FaultBroker } from '../../test/telemetry/helpers/fault-broker.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 1800);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const RPS = Number(process.env.SOAK_RPS ?? 40);
const FAULT_GAP_S = Number(process.env.SOAK_FAULT_GAP_S ?? 15);
const BASE = Number(process.env.SOAK_PORT_BASE ?? 28300);
const OUT = process.env.SOAK_OUT ?? join(ROOT, 'bench/results/soak.json');
const TOKEN = 'soak-operator-token-0123456789abcdef';
/** Each step lasts at least this long (s): a rollout of three steps takes a minute or two. */
const STEP_S = Number(process.env.SOAK_STEP_S ?? 20);
/** The Kafka sink's stall bound (telemetry.stallMs); the documented crash window is 2.25 x this. */
const STALL_MS = 1000;
const CRASH_WINDOW_MS = 2.25 * STALL_MS;

for (const [name, v] of Object.entries({ SOAK_SECONDS: SECONDS, SOAK_SEED: SEED, SOAK_RPS: RPS, SOAK_FAULT_GAP_S: FAULT_GAP_S, SOAK_PORT_BASE: BASE })) {
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`soak: ${name} must be a positive number`);
    process.exit(2);
  }
}

/** mulberry32: a small seeded generator, so a seed replays the same schedule. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = seeded(SEED);
const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const say = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(7)} s] ${msg}`);

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await request(url, { headers, headersTimeout: 3000, bodyTimeout: 3000 });
  const text = await res.body.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.statusCode, body };
}

// ---------------------------------------------------------------------------------------------
// Processes

const work = mkdtempSync(join(tmpdir(), 'mlgate-soak-'));
mkdirSync(join(work, 'logs'));

/** Every child alive now, so an interrupted soak (Ctrl-C) leaves no process behind. */
const children = new Set<ChildProcess>();
let brokerToDestroy: FaultBroker | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping every process of the soak`);
    for (const c of children) c.kill('SIGKILL');
    void (brokerToDestroy?.destroy() ?? Promise.resolve()).catch(() => undefined).finally(() => {
      if (process.env.SOAK_KEEP !== '1') rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

/** One service process: how to start it, how to know it is ready, and its current child. */
class Service {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  starts = 0;
  constructor(readonly name: string, private readonly args: string[], private readonly ready: () => Promise<boolean>) {}

  async start(): Promise<void> {
    this.starts++;
    const log = createWriteStream(join(work, 'logs', `${this.name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', ...this.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']});
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.child = child;
    children.add(child);
    this.exited = new Promise((r) => child.once('exit', () => { children.delete(child); r(); }));
    let gone = false;
    void this.exited.then(() => { gone = true; });
    await until(`${this.name} ready`, async () => gone || this.ready(), 90_000);
    if (gone) throw new Error(`${this.name} exited while starting (see ${join(work, 'logs', `${this.name}.log`)})`);
  }

  running(): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null; }

  /** Sends `signal` and waits for the exit (SIGKILL: at once; SIGTERM: up to 60 s, then SIGKILL). */
  async stop(signal: NodeJS.Signals): Promise<void> {
    if (!this.running()) return;
    this.child!.kill(signal);
    const done = await Promise.race([this.exited.then(() => true), sleep(60_000).then(() => false)]);
    if (!done) {
      say(`${this.name} did not stop within 60 s of ${signal}: SIGKILL`);
      this.child!.kill('SIGKILL');
      await this.exited;
    }
  }
}

const ports = {
  warehouse: BASE, v1: BASE + 1, v2: BASE + 2,
  gateway: [BASE + 10, BASE + 11], admin: [BASE + 20, BASE + 21], ingester: [BASE + 30, BASE + 31], controller: [BASE + 40, BASE + 41],
  broker: BASE + 90, proxy: BASE + 92,
};
const ok = async (url: string) => (await getJson(url)).status === 200;

function writeConfig(name: string, doc: object): string {
  const file = join(work, `${name}.yml`);
  writeFileSync(file, stringify(doc));
  return file;
}

function common(name: string): Record<string, unknown> {
  return {
    dataDir: join(work, name), log: { level: 'info' },
    kafka: { brokers: [`127.0.0.1:${ports.proxy}`], clientId: `soak-${name}` },
    warehouse: { url: `http://127.0.0.1:${ports.warehouse}`, requestTimeoutMs: 10_000 },
  };
}

const telemetry = { topic: 'soak.telemetry', partitions: 6, hashing: { key: 'soak-hash-key-0123456789abcdef', keyId: 'soak' }, stallMs: STALL_MS };

const rolloutSpec = (id: string, stable: string, canary: string) => ({
  id, model: 'sentiment', stable, canary, fallback: stable, steps: [20, 50, 100],
  stepDefaults: { minDurationS: STEP_S, minSamples: 100, maxDurationS: Math.max(600, STEP_S * 10) },
  // Both versions are the same model with rare errors: an absolute tolerance of 2 points is ruled
  // out in a few hundred requests, so the rollout's pace is set by the step length, not the test.
  tick: { intervalS: 2, lagS: 3 }, warmup: { seconds: 0 }, bake: { seconds: 0 },
  metrics: [{ kind: 'error_rate', tolerance: { absolute: 0.02 } }, { kind: 'latency', quantile: 'p95', detect: 3 }],
});

function buildServices(): Record<string, Service> {
  const cli = (cmd: string, cfg: string) => ['services/cli/main.ts', cmd, '--config', cfg];
  const s: Record<string, Service> = {};
  s.warehouse = new Service('warehouse', ['scripts/soak/warehouse-host.ts', '--port', String(ports.warehouse), '--path', join(work, 'warehouse')],
    () => ok(`http://127.0.0.1:${ports.warehouse}/ping`));
  s.models = new Service('models', ['scripts/soak/models.ts', '--v1', String(ports.v1), '--v2', String(ports.v2)],
    async () => (await ok(`http://127.0.0.1:${ports.v1}/healthz`)) && ok(`http://127.0.0.1:${ports.v2}/healthz`));
  for (const i of [0, 1]) {
    const name = `gateway-${i + 1}`;
    const cfg = writeConfig(name, {
      ...common(name), telemetry,
      gateway: {
        id: name, host: '127.0.0.1', port: ports.gateway[i], admin: { host: '127.0.0.1', port: ports.admin[i], token: TOKEN },
        models: {
          sentiment: {
            versions: { v1: { targets: [`http://127.0.0.1:${ports.v1}`], timeoutMs: 5000 }, v2: { targets: [`http://127.0.0.1:${ports.v2}`], timeoutMs: 5000 } },
            weights: { v1: 100, v2: 0 }, fallback: 'v1', prediction: { label: 'label', score: 'score' },
          },
        },
      },
    });
    s[name] = new Service(name, cli('gateway', cfg), () => ok(`http://127.0.0.1:${ports.gateway[i]}/healthz`));
  }
  for (const i of [0, 1]) {
    const name = `ingester-${i + 1}`;
    const cfg = writeConfig(name, {
      ...common(name),
      ingester: { topic: telemetry.topic, batch: { lingerMs: 250 }, sessionTimeoutMs: 10_000, http: { host: '127.0.0.1', port: ports.ingester[i] } },
    });
    s[name] = new Service(name, cli('ingester', cfg), () => ok(`http://127.0.0.1:${ports.ingester[i]}/healthz`));
  }
  for (const i of [0, 1]) {
    const name = `controller-${i + 1}`;
    const cfg = writeConfig(name, {
      ...common(name),
      controller: {
        instanceId: name, host: '127.0.0.1', port: ports.controller[i], tokens: [{ name: 'soak', token: TOKEN, role: 'operator' }],
        leader: { sessionTimeoutMs: 6000 },
      },
    });
    s[name] = new Service(name, cli('controller', cfg), () => ok(`http://127.0.0.1:${ports.controller[i]}/healthz`));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Load

interface Answer { gateway: number; at: number; status: number }
const answered = new Map<string, Answer>();
const load = { sent: 0, ok: 0, errors: 0, unanswered: 0, byVersion: {} as Record<string, number> };
/** When each failed request ended (no answer, or an answer other than 200), for the cost of each fault. */
const failedAt: number[] = [];
const TEXTS = ['a lovely, helpful answer', 'this is terrible and slow', 'fine I guess', 'great work, thank you', 'awful experience, never again'];

function startLoad(): () => Promise<void> {
  const pools = ports.gateway.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 16, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  const pending = new Set<Promise<void>>();
  let n = 0;
  const one = async (g: number, i: number) => {
    load.sent++;
    try {
      const res = await pools[g]!.request({
        path: '/v1/models/sentiment/predict', method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `${TEXTS[i % TEXTS.length]} #${i}` }),
      });
      const text = await res.body.text();
      const id = res.headers['x-mlgate-event-id'];
      if (typeof id !== 'string') { load.unanswered++; failedAt.push(Date.now()); return; }
      answered.set(id, { gateway: g, at: Date.now(), status: res.statusCode });
      if (res.statusCode === 200) {
        load.ok++;
        const v = String((JSON.parse(text) as { version?: unknown }).version);
        load.byVersion[v] = (load.byVersion[v] ?? 0) + 1;
      } else {
        load.errors++;
        failedAt.push(Date.now());
      }
    } catch {
      load.unanswered++;
      failedAt.push(Date.now());
    }
  };
  const timer = setInterval(() => {
    for (let k = 0; k < RPS / 10; k++) {
      const i = n++;
      const p = one(i % 2, i);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }, 100);
  return async () => {
    clearInterval(timer);
    await Promise.allSettled([...pending]);
    await Promise.all(pools.map((p) => p.close()));
  };
}

// ---------------------------------------------------------------------------------------------
// Faults

interface FaultRecord { kind: string; target: string; at: number; downMs: number; recoveredMs: number }
const faults: FaultRecord[] = [];
const gatewayKills: Array<{ gateway: number; at: number }> = [];
const KINDS = ['gateway', 'ingester', 'controller', 'broker', 'warehouse', 'leadership'] as const;

async function leaderIndex(): Promise<number | undefined> {
  for (const i of [0, 1]) {
    try {
      const { body } = await getJson(`http://127.0.0.1:${ports.controller[i]}/healthz`);
      if ((body as { leader?: boolean }).leader) return i;
    } catch { /* down */ }
  }
  return undefined;
}

async function inject(kind: (typeof KINDS)[number], s: Record<string, Service>, broker: FaultBroker): Promise<void> {
  const t = Date.now();
  const pick = () => (rand() < 0.5 ? 0 : 1);
  let target: string;
  let down = 0;
  if (kind === 'broker') {
    target = 'kafka';
    await broker.kill();
    down = between(1000, 8000);
    await sleep(down);
    await broker.start();
  } else if (kind === 'leadership') {
    const leader = await leaderIndex();
    const i = leader ?? pick();
    target = `controller-${i + 1}${leader === undefined ? ' (no leader seen)' : ' (leader)'}`;
    const svc = s[`controller-${i + 1}`]!;
    await svc.stop('SIGTERM');
    await until('the other controller leading', async () => (await leaderIndex()) === 1 - i, 60_000, 200).catch((err: Error) => say(`leadership: ${err.message}`));
    await svc.start();
  } else {
    const i = pick();
    target = kind === 'warehouse' ? 'warehouse' : `${kind}-${i + 1}`;
    const svc = s[target]!;
    if (kind === 'gateway') gatewayKills.push({ gateway: i, at: Date.now() });
    await svc.stop('SIGKILL');
    down = kind === 'warehouse' ? between(2000, 15_000) : between(500, 3000);
    await sleep(down);
    await svc.start();
  }
  const rec = { kind, target, at: t - t0, downMs: Math.round(down), recoveredMs: Date.now() - t };
  faults.push(rec);
  say(`fault ${faults.length}: ${kind} ${target}, down ${rec.downMs} ms, recovered after ${rec.recoveredMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// Rollouts

interface RolloutResult { id: string; stable: string; canary: string; phase: string; seconds: number }
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const ENDED = ['promoted', 'rolled_back', 'aborted'];

/** Starts a rollout on whichever controller leads (a standby answers 503), retrying through faults. */
async function startRollout(spec: object): Promise<void> {
  await until('a controller to accept the rollout', async () => {
    for (const port of ports.controller) {
      try {
        const res = await request(`http://127.0.0.1:${port}/v1/rollouts`, { method: 'POST', headers: AUTH, body: JSON.stringify(spec), headersTimeout: 5000, bodyTimeout: 5000 });
        const text = await res.body.text();
        if (res.statusCode === 201 || res.statusCode === 200) return true;
        if (res.statusCode === 409) return true; // created by an earlier try whose answer was lost
        if (res.statusCode !== 503) throw new Error(`POST /v1/rollouts answered ${res.statusCode}: ${text}`);
      } catch (err) {
        if (/answered/.test((err as Error).message)) throw err;
      }
    }
    return false;
  }, 120_000, 500);
}

async function phaseOf(id: string): Promise<string | undefined> {
  for (const port of ports.controller) {
    try {
      const { status, body } = await getJson(`http://127.0.0.1:${port}/v1/rollouts/${id}`, AUTH);
      if (status === 200) return String((body as { rollout: { phase: string } }).rollout.phase);
    } catch { /* down */ }
  }
  return undefined;
}

/** Rollouts one after another (v2 over v1, then back) until `done()`; each waited for to its end. */
async function driveRollouts(done: () => boolean): Promise<RolloutResult[]> {
  const results: RolloutResult[] = [];
  let [stable, canary] = ['v1', 'v2'];
  for (let i = 1; !done() || i === 1; i++) {
    const id = `soak-${i}`;
    const started = Date.now();
    await startRollout(rolloutSpec(id, stable, canary));
    say(`rollout ${id}: ${canary} over ${stable} started`);
    let phase = 'unknown';
    // Three steps of STEP_S, analysis and faults: generous, since a paused rollout never ends.
    await until(`rollout ${id} to end`, async () => ENDED.includes(phase = (await phaseOf(id)) ?? phase), Math.max(300_000, STEP_S * 30_000), 1000)
      .catch((err: Error) => say(err.message));
    const r = { id, stable, canary, phase, seconds: Math.round((Date.now() - started) / 1000) };
    results.push(r);
    say(`rollout ${id}: ${phase} after ${r.seconds} s`);
    if (phase !== 'promoted') break;
    [stable, canary] = [canary, stable];
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Checks

interface GatewayCount { gateway: string; answered: number; stored: number; missing: number; missingInCrashWindow: number; missingOutside: number; storedUnanswered: number }

async function storedIds(wh: Warehouse): Promise<Map<string, { gateway: string; n: number }>> {
  const rows = await wh.query<{ id: string; g: string; n: string }>(
    `SELECT toString(event_id) AS id, any(gateway_id) AS g, toString(count()) AS n FROM {db}.requests GROUP BY event_id`,
  );
  return new Map(rows.map((r) => [r.id, { gateway: r.g, n: Number(r.n) }]));
}

/**
 * Where duplicate rows came from, for the report: each duplicated event's copies (partition,
 * offset, insert time), grouped by whether the copies share a position (one batch stored twice:
 * a lost deduplication token) or not (the event reached Kafka twice, or a batch cut differently),
 * and by the last fault injected before the second copy was inserted.
 */
async function describeDuplicates(wh: Warehouse): Promise<Record<string, unknown>> {
  const rows = await wh.query<{ id: string; p: number[]; o: string[]; at: string[] }>(
    `SELECT toString(event_id) AS id, groupArray(src_partition) AS p, groupArray(toString(src_offset)) AS o,
            groupArray(toString(toUnixTimestamp64Milli(ingested_at))) AS at
     FROM {db}.requests GROUP BY event_id HAVING count() > 1`,
  );
  const groups = new Map<string, { events: number; firstAt: number; lastAt: number; samples: unknown[] }>();
  for (const r of rows) {
    const positions = new Set(r.p.map((p, i) => `${p}:${r.o[i]}`));
    const ats = r.at.map(Number).sort((a, b) => a - b);
    const second = ats[1]! - t0;
    const before = faults.filter((f) => f.at <= second).at(-1);
    const key = `${positions.size === 1 ? 'same position' : 'different positions'}; last fault before: ${before ? `${before.kind} ${before.target} at ${Math.round(before.at / 1000)} s` : 'none'}`;
    const g = groups.get(key) ?? { events: 0, firstAt: second, lastAt: second, samples: [] };
    g.events++;
    g.firstAt = Math.min(g.firstAt, second);
    g.lastAt = Math.max(g.lastAt, second);
    if (g.samples.length < 3) g.samples.push({ id: r.id, positions: [...positions], insertedAtS: ats.map((a) => Math.round((a - t0) / 100) / 10) });
    groups.set(key, g);
  }
  return Object.fromEntries([...groups].map(([k, g]) => [k, { ...g, firstAt: Math.round(g.firstAt / 1000), lastAt: Math.round(g.lastAt / 1000) }]));
}

/** Milliseconds from each stored event's timestamp to its insert into ClickHouse, by event id. */
async function storageDelays(wh: Warehouse): Promise<Map<string, number>> {
  const rows = await wh.query<{ id: string; d: string }>(
    `SELECT toString(event_id) AS id, toString(max(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(ts))) AS d FROM {db}.requests GROUP BY event_id`,
  );
  return new Map(rows.map((r) => [r.id, Number(r.d)]));
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/**
 * What each kind of fault cost, from the client's side and the warehouse's: requests that failed
 * (no answer, or not 200) between the fault and its recovery plus a grace of 2 s, the span from
 * the first to the last of those failures (the seconds a client without retries saw errors),
 * and how long events answered in that window took to reach ClickHouse, next to the same delay
 * for events answered outside every fault window.
 */
function faultCosts(delays: Map<string, number>): Record<string, unknown> {
  const GRACE_MS = 2000;
  const windows = faults.map((f) => ({ kind: f.kind, from: t0 + f.at, to: t0 + f.at + f.recoveredMs + GRACE_MS }));
  const inAny = (at: number) => windows.some((w) => at >= w.from && at <= w.to);
  const quiet = [...answered].filter(([, a]) => !inAny(a.at)).map(([id]) => delays.get(id)).filter((d): d is number => d !== undefined);
  const byKind: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const mine = windows.filter((w) => w.kind === kind);
    if (mine.length === 0) continue;
    const failedPer = mine.map((w) => failedAt.filter((t) => t >= w.from && t <= w.to));
    const spans = failedPer.map((f) => (f.length ? (Math.max(...f) - Math.min(...f)) / 1000 : 0));
    const d = [...answered].filter(([, a]) => mine.some((w) => a.at >= w.from && a.at <= w.to)).map(([id]) => delays.get(id)).filter((x): x is number => x !== undefined);
    byKind[kind] = {
      faults: mine.length,
      requestsFailed: failedPer.reduce((a, f) => a + f.length, 0),
      requestsFailedPerFault: Math.round((10 * failedPer.reduce((a, f) => a + f.length, 0)) / mine.length) / 10,
      maxErrorSpanS: Math.round(10 * Math.max(...spans)) / 10,
      recoverySMedian: quantile(faults.filter((f) => f.kind === kind).map((f) => f.recoveredMs / 1000), 0.5),
      eventDelayS: { p50: quantile(d, 0.5) / 1000, p99: quantile(d, 0.99) / 1000, max: quantile(d, 1) / 1000 },
    };
  }
  return { graceMs: GRACE_MS, quietEventDelayS: { p50: quantile(quiet, 0.5) / 1000, p99: quantile(quiet, 0.99) / 1000, max: quantile(quiet, 1) / 1000 }, byKind };
}

function inCrashWindow(a: Answer): boolean {
  return gatewayKills.some((k) => k.gateway === a.gateway && a.at <= k.at && k.at - a.at <= CRASH_WINDOW_MS);
}

async function main(): Promise<void> {
  say(`soak: ${SECONDS} s, seed ${SEED}, ${RPS} req/s, a fault every ~${FAULT_GAP_S} s, steps of >= ${STEP_S} s; work dir ${work}`);
  const broker = await startFaultBroker(ports.broker, ports.proxy);
  brokerToDestroy = broker;
  const s = buildServices();
  let stopLoad: (() => Promise<void>) | undefined;
  let wh: Warehouse | undefined;
  const report: Record<string, unknown> = { seed: SEED, seconds: SECONDS, rps: RPS, startedAt: new Date(t0).toISOString() };
  let pass: boolean | undefined;
  try {
    await s.warehouse!.start();
    await s.models!.start();
    for (const name of ['gateway-1', 'gateway-2', 'ingester-1', 'ingester-2', 'controller-1', 'controller-2']) await s[name]!.start();
    say('all services ready; load starts');
    stopLoad = startLoad();
    const end = t0 + SECONDS * 1000;
    const rollouts = driveRollouts(() => Date.now() >= end);
    let round: string[] = [];
    // Until the time is up, and at least one fault of every kind (a short run gets each once).
    const seen = () => new Set(faults.map((f) => f.kind)).size === KINDS.length;
    while (Date.now() < end || !seen()) {
      await sleep(seen() ? Math.min(end - Date.now(), between(FAULT_GAP_S * 500, FAULT_GAP_S * 1500)) : between(FAULT_GAP_S * 500, FAULT_GAP_S * 1000));
      if (Date.now() >= end && seen()) break;
      if (round.length === 0) round = [...KINDS].sort(() => rand() - 0.5);
      await inject(round.shift() as (typeof KINDS)[number], s, broker);
    }
    // A rollout needs traffic to finish: the load stays on until the last one ended.
    const results = await rollouts;
    await stopLoad();
    stopLoad = undefined;
    say(`load stopped: sent ${load.sent}, answered ${answered.size} (${load.ok} ok, ${load.errors} error answers), unanswered ${load.unanswered}`);

    // Everything answered must reach ClickHouse: wait until the stored ids stop growing.
    const store = await createWarehouse(WarehouseSection.parse({ url: `http://127.0.0.1:${ports.warehouse}` }), { logger: silentLogger() });
    wh = store;
    let stored = new Map<string, { gateway: string; n: number }>();
    let last = -1;
    let stableSince = Date.now();
    const want = [...answered.keys()];
    await until('stored events to settle', async () => {
      stored = await storedIds(store);
      if (stored.size !== last) { last = stored.size; stableSince = Date.now(); }
      const missing = want.filter((id) => !stored.has(id)).length;
      return missing === 0 || Date.now() - stableSince > 20_000;
    }, 240_000, 1000);

    const counts: GatewayCount[] = [0, 1].map((g) => {
      const mine = [...answered].filter(([, a]) => a.gateway === g);
      const missingIds = mine.filter(([id]) => !stored.has(id));
      const inWindow = missingIds.filter(([, a]) => inCrashWindow(a)).length;
      const name = `gateway-${g + 1}`;
      const storedHere = [...stored.values()].filter((v) => v.gateway === name).length;
      return {
        gateway: name, answered: mine.length, stored: storedHere, missing: missingIds.length, missingInCrashWindow: inWindow,
        missingOutside: missingIds.length - inWindow, storedUnanswered: [...stored].filter(([id, v]) => v.gateway === name && !answered.has(id)).length,
      };
    });
    const rows = [...stored.values()].reduce((a, v) => a + v.n, 0);
    const duplicates = rows - stored.size;
    const duplicateDetail = duplicates > 0 ? await describeDuplicates(store) : undefined;

    const verify = await verifyChains(store);
    const decisions = await store.query<{ ts: string; action: string; generation: string; prev_hash: string; chain_id: string; epoch: string }>(
      `SELECT toString(ts) AS ts, action, toString(generation) AS generation, prev_hash, chain_id, toString(JSONExtractUInt(evidence, 'epoch')) AS epoch
       FROM {db}.canary_decisions ORDER BY ts, decision_id`);
    // A fork: two rows of one chain continuing the same row (verifyChains reads one row per seq).
    const prevSeen = new Map<string, number>();
    for (const d of decisions) prevSeen.set(`${d.chain_id}\n${d.prev_hash}`, (prevSeen.get(`${d.chain_id}\n${d.prev_hash}`) ?? 0) + 1);
    const forks = [...prevSeen.values()].filter((n) => n > 1).length;
    // A decision from a stale epoch: written after a decision of a newer leadership.
    let staleEpoch = 0;
    let newest = 0;
    for (const d of decisions) {
      const e = Number(d.epoch);
      if (e > 0 && e < newest) staleEpoch++;
      newest = Math.max(newest, e);
    }
    let regressions = 0;
    let top = 0;
    for (const d of decisions) {
      const g = Number(d.generation);
      if (g > 0 && g < top) regressions++;
      top = Math.max(top, g);
    }
    const coverage = faultCoverage(faults, SECONDS);
    const costs = faultCosts(await storageDelays(store));
    const answeredN = answered.size;
    const kills = gatewayKills.length;
    const lostInWindow = counts.reduce((a, c) => a + c.missingInCrashWindow, 0);
    Object.assign(report, {
      finishedAt: new Date().toISOString(), durationS: Math.round((Date.now() - t0) / 1000),
      requests: { sent: load.sent, answered: answeredN, ok: load.ok, errorAnswers: load.errors, unanswered: load.unanswered, successRate: load.ok / Math.max(1, load.sent), byVersion: load.byVersion },
      gateways: counts, rows, distinctEvents: stored.size, duplicates, ...(duplicateDetail ? { duplicateDetail } : {}),
      crashWindow: { boundMs: CRASH_WINDOW_MS, gatewayKills: kills, lost: lostInWindow, lostPerKill: kills ? lostInWindow / kills : 0 },
      decisions: { count: decisions.length, notWait: decisions.filter((d) => d.action !== 'wait').map((d) => d.action), staleEpoch, chainsOk: verify.ok, firstBreak: verify.firstBreak?.message ?? null, forks, generationRegressions: regressions },
      rollouts: results,
      faults, faultsByKind: Object.fromEntries(KINDS.map((k) => [k, faults.filter((f) => f.kind === k).length])),
      restarts: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.starts - 1])),
      faultCoverage: coverage,
      faultCosts: costs,
    });
    const problems: string[] = [];
    for (const w of coverage) if (w.missing.length > 0) problems.push(`no ${w.missing.join(', ')} fault between ${w.fromS} s and ${w.toS} s (every kind is due once per ${COVERAGE_S} s)`);
    for (const c of counts) if (c.missingOutside > 0) problems.push(`${c.gateway}: ${c.missingOutside} answered request(s) not in ClickHouse outside a crash window`);
    if (duplicates !== 0) problems.push(`${duplicates} duplicate row(s)`);
    if (!verify.ok) problems.push(`chain verification failed: ${verify.firstBreak?.message}`);
    if (forks > 0) problems.push(`${forks} decision chain fork(s)`);
    if (regressions > 0) problems.push(`${regressions} decision(s) with a lower routing generation than an earlier one`);
    if (staleEpoch > 0) problems.push(`${staleEpoch} decision(s) from a leader whose epoch was already superseded`);
    for (const r of results) if (r.phase !== 'promoted') problems.push(`rollout ${r.id} ended ${r.phase}, not promoted`);
    if (results.length === 0) problems.push('no rollout ran');
    if (answeredN === 0) problems.push('no request was answered');
    report.problems = problems;
    pass = problems.length === 0;
    report.pass = pass;
  } finally {
    if (stopLoad) await stopLoad().catch(() => undefined);
    await wh?.close().catch(() => undefined);
    for (const svc of Object.values(s).reverse()) await svc.stop('SIGTERM').catch(() => undefined);
    await broker.destroy().catch(() => undefined);
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
    if (process.env.SOAK_KEEP === '1') say(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  printSummary(report);
  process.exitCode = pass ? 0 : 1;
}

/** Every kind of fault is due once in each whole window of COVERAGE_S seconds of the run. */
const COVERAGE_S = 300;
function faultCoverage(list: readonly FaultRecord[], seconds: number): { fromS: number; toS: number; kinds: Record<string, number>; missing: string[] }[] {
  const out = [];
  for (let from = 0; from + COVERAGE_S <= seconds; from += COVERAGE_S) {
    const inside = list.filter((f) => f.at >= from * 1000 && f.at < (from + COVERAGE_S) * 1000);
    const kinds = Object.fromEntries(KINDS.map((k) => [k, inside.filter((f) => f.kind === k).length]));
    out.push({ fromS: from, toS: from + COVERAGE_S, kinds, missing: KINDS.filter((k) => kinds[k] === 0) });
  }
  return out;
}

function printSummary(r: Record<string, unknown>): void {
  const req = r.requests as Record<string, number> | undefined;
  console.log(`\nsoak seed ${SEED}, ${r.durationS ?? '?'} s: ${r.pass ? 'PASS' : 'FAIL'}`);
  if (req) console.log(`requests: sent ${req.sent}, answered ${req.answered}, ok ${req.ok}, success rate ${(100 * req.successRate!).toFixed(2)}%`);
  for (const c of (r.gateways as GatewayCount[] | undefined) ?? []) {
    console.log(`${c.gateway}: answered ${c.answered}, stored ${c.stored}, missing ${c.missing} (in crash windows ${c.missingInCrashWindow}), stored but unanswered ${c.storedUnanswered}`);
  }
  console.log(`rows ${r.rows}, distinct ${r.distinctEvents}, duplicates ${r.duplicates}`);
  console.log(`decisions: ${JSON.stringify(r.decisions)}`);
  console.log(`rollouts: ${JSON.stringify(r.rollouts)}`);
  console.log(`faults: ${JSON.stringify(r.faultsByKind)}`);
  const costs = r.faultCosts as { quietEventDelayS: Record<string, number>; byKind: Record<string, Record<string, unknown>> } | undefined;
  if (costs) {
    console.log(`\nfault        n  failed req  per fault  error span s  recovery s  event delay p50 / p99 / max s`);
    const q = costs.quietEventDelayS;
    console.log(`${'(none)'.padEnd(12)} ${'-'.padStart(2)}  ${'-'.padStart(10)}  ${'-'.padStart(9)}  ${'-'.padStart(12)}  ${'-'.padStart(10)}  ${q.p50} / ${q.p99} / ${q.max}`);
    for (const [k, c] of Object.entries(costs.byKind)) {
      const d = c.eventDelayS as Record<string, number>;
      console.log(`${k.padEnd(12)} ${String(c.faults).padStart(2)}  ${String(c.requestsFailed).padStart(10)}  ${String(c.requestsFailedPerFault).padStart(9)}  ${String(c.maxErrorSpanS).padStart(12)}  ${String(c.recoverySMedian).padStart(10)}  ${d.p50} / ${d.p99} / ${d.max}`);
    }
  }
  if (r.duplicateDetail) console.log(`duplicates by cause: ${JSON.stringify(r.duplicateDetail, null, 1)}`);
  for (const p of (r.problems as string[] | undefined) ?? []) console.log(`PROBLEM: ${p}`);
  console.log(`report: ${OUT}`);
}

await main().catch((err: unknown) => {
  console.error(`soak failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
