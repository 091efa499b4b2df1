/**
 * The demo scenario (`mlgate demo`): the embedded stack with three real model versions, a steady
 * load of review and chat texts, then two rollouts one after the other — v2, a VADER build with
 * injected errors and latency, which the controller rolls back; then v3, a healthy VADER build,
 * which it promotes — with the live view drawing every step. Before each rollout the gateway is
 * reloaded so shadow copies go to that rollout's canary (shadow agreement is then measured on
 * real answers). It ends by reading both rollouts' decisions back from ClickHouse.
 *
 * The demo owns `<dataDir>/demo` and empties it at the start, so every run starts clean and the
 * rollout ids (`sentiment-v2`, `sentiment-v3`) are free.
 */
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify as toYaml } from 'yaml';
import { applyEnvOverrides } from '../services/core/config.ts';
import type { EnvSnapshot } from '../services/core/env.ts';
import { createLogger } from '../services/core/log.ts';
import { readDecisions, type DecisionRow } from '../services/controller/web/traffic.ts';
import { parseEmbeddedConfig } from '../services/embedded/config.ts';
import { startEmbedded, type RunningEmbedded } from '../services/embedded/embedded.ts';
import { EmbeddedErrors } from '../services/embedded/errors.ts';
import { DEMO_CONSUMERS, DEMO_VERSIONS, FAST, FULL, demoConfig, demoRollout, type DemoTiming } from './config.ts';
import { startLoad, type Load, type LoadStats } from './load.ts';
import { startModelServer, type ModelServer } from '../services/embedded/stand-in/model-server.ts';
import { ViewLoop } from './view-loop.ts';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** The shortened variant (about 1.5 minutes instead of 4). */
  fast: boolean;
  /** Base data directory; the demo uses (and first empties) `<dataDir>/demo`. */
  dataDir: string;
  /** Free ports instead of 8080, 8081, 9465, 9466, 9467, 8790. */
  anyPorts: boolean;
  /** Where the live view goes. */
  out: Writable & { isTTY?: boolean; columns?: number };
  /** Redraw in place (default: `out.isTTY`). */
  tty?: boolean;
  /** Environment overrides (MLGATE_CFG__...) applied to the demo's config. */
  env: EnvSnapshot;
  /** Aborts the demo (Ctrl-C). */
  signal?: AbortSignal;
  /** Keep the stack running after the demo (the caller stops `result.running`). */
  stay?: boolean;
  /** Called once the stack is up (URLs known). */
  onStarted?: (running: RunningEmbedded) => void;
}

/** One rollout's outcome. */
export interface RolloutOutcome {
  readonly id: string;
  readonly canary: string;
  readonly expected: 'rolled_back' | 'promoted';
  readonly phase: string;
  readonly weight: number;
  /** Decisions other than `wait`, oldest first, from ClickHouse. */
  readonly decisions: readonly DecisionRow[];
  /** Every decision recorded (waits included). */
  readonly recorded: number;
}

/** What the demo did. */
export interface DemoResult {
  /** Both rollouts ended as expected and their final decisions are in ClickHouse. */
  readonly ok: boolean;
  readonly rollouts: readonly RolloutOutcome[];
  readonly load: LoadStats;
  readonly durationS: number;
  /** The config the demo ran with (for `mlgate audit --config`). */
  readonly configFile: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The stack, still running when `stay` was set (else stopped). */
  readonly running: RunningEmbedded;
  /** Stops the stack and the model servers (done already unless `stay` was set); idempotent. */
  stop(): Promise<void>;
}

const PLAN: ReadonlyArray<{ canary: string; expected: 'rolled_back' | 'promoted'; stage: string }> = [
  { canary: 'v2', expected: 'rolled_back', stage: 'rollout 1 of 2: v2, VADER with injected errors and latency' },
  { canary: 'v3', expected: 'promoted', stage: 'rollout 2 of 2: v3, VADER healthy' },
];

const TERMINAL = new Set(['promoted', 'rolled_back', 'aborted']);

/** Runs the demo; see the module comment. @throws MLG_EMB_DEMO_FAILED when a rollout does not finish in time. */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t: DemoTiming = o.fast ? FAST : FULL;
  const dataDir = resolve(o.dataDir, 'demo');
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const t0 = Date.now();
  const models: ModelServer[] = [];
  let stack: DemoStack | undefined;
  let load: Load | undefined;
  let loop: ViewLoop | undefined;
  try {
    for (const { description: _d, ...server } of DEMO_VERSIONS) models.push(await startModelServer(server));
    stack = await startStack(o, dataDir, models);
    const rt = stack.rt;
    o.onStarted?.(rt);
    const l = (load = startLoad({ url: rt.urls.gateway, model: 'sentiment', rps: t.rps, apiKeys: Object.values(DEMO_CONSUMERS), seed: 7 }));
    loop = new ViewLoop({ out: o.out, tty: o.tty, rollouts: rt.controller.rollouts, load: () => l.stats, rps: t.rps, t0,
      recorded: async (id) => [...(await readDecisions(rt.warehouse, { rollout: id, waits: 'false', limit: 1000 })).rows].reverse() });
    await wait(t.warmupS * 1000, o.signal);
    for (const step of PLAN) {
      loop.stage = step.stage;
      await stack.shadowTo(step.canary, t.shadowPercent);
      await rollOut(rt, step.canary, t, o.signal);
      await loop.frame();
    }
    loop.stage = 'done: reading the decisions back from ClickHouse';
    await load.stop();
    const outcomes: RolloutOutcome[] = [];
    for (const step of PLAN) outcomes.push(await outcomeOf(rt, step.canary, step.expected));
    await loop.stop(true);
    const ok = outcomes.every((x) => x.phase === x.expected && x.decisions.some((d) => finalAction(d, x.expected)));
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= rt.stop().finally(() => Promise.all(models.map((m) => m.close()))).then(() => undefined));
    if (!o.stay) await stop();
    return { ok, rollouts: outcomes, load: load.stats, durationS: (Date.now() - t0) / 1000, configFile: stack.configFile, dataDir, logFile: stack.logFile, running: rt, stop };
  } catch (err) {
    await loop?.stop();
    await load?.stop();
    await stack?.rt.stop();
    await Promise.all(models.map((m) => m.close()));
    throw err;
  }
}

/** The demo's running stack. */
interface DemoStack {
  rt: RunningEmbedded;
  configFile: string;
  logFile: string;
  /** Reloads the gateway's config with shadow copies going to `version`. */
  shadowTo(version: string, percent: number): Promise<void>;
}

/** Writes the demo's config (for `mlgate audit --config`) and starts the embedded stack, logging to a file. */
async function startStack(o: DemoOptions, dataDir: string, models: readonly ModelServer[]): Promise<DemoStack> {
  const modelUrls = Object.fromEntries(models.map((m) => [m.name, m.url]));
  const logFile = join(dataDir, 'mlgate.log');
  const configFile = join(dataDir, 'mlgate.yaml');
  let shadow: { version: string; percent: number } | undefined;
  // MLGATE_DATA_DIR names the base directory (the caller's choice); the demo's own is <base>/demo.
  const env = Object.fromEntries(Object.entries(o.env).filter(([k]) => k !== 'MLGATE_DATA_DIR'));
  const raw = () => demoConfig({ dataDir, models: modelUrls, anyPorts: o.anyPorts, shadow });
  const build = () => parseEmbeddedConfig(applyEnvOverrides(raw() as Record<string, unknown>, env), 'demo config');
  const cfg = build();
  writeFileSync(configFile, `# Written by mlgate demo: the config it ran with. Read its data with\n# mlgate audit rollout sentiment-v2 --config ${configFile}\n${toYaml(raw())}`);
  const logger = createLogger({ service: 'mlgate', level: cfg.log.level, destination: pino.destination({ dest: logFile, mkdir: true, sync: false }) });
  const rt = await startEmbedded(cfg, { logger, reloadGateway: () => build().gateway });
  return {
    rt, configFile, logFile,
    shadowTo: async (version, percent) => {
      shadow = { version, percent };
      await rt.gateway.admin.reload('demo', `shadow copies to the canary ${version}`);
    },
  };
}

/** Creates the rollout of `canary` and waits until it is over. */
async function rollOut(rt: RunningEmbedded, canary: string, t: DemoTiming, signal: AbortSignal | undefined): Promise<void> {
  const view = await rt.controller.rollouts.create(demoRollout(canary, t), 'demo');
  const deadline = Date.now() + t.rolloutDeadlineS * 1000;
  while (!TERMINAL.has((await rt.controller.rollouts.get(view.id)).phase)) {
    if (Date.now() > deadline) throw EmbeddedErrors.demoFailed(`rollout ${view.id} did not finish within ${t.rolloutDeadlineS} s`);
    await wait(500, signal);
  }
}

/** True when `d` is the decision that ends a rollout the expected way. */
function finalAction(d: DecisionRow, expected: 'rolled_back' | 'promoted'): boolean {
  return expected === 'rolled_back' ? d.action === 'rollback' : d.action === 'complete' || d.action === 'finish';
}

/** The rollout's state and its recorded decisions (polled until the final one is in ClickHouse, at most 15 s). */
async function outcomeOf(rt: RunningEmbedded, canary: string, expected: 'rolled_back' | 'promoted'): Promise<RolloutOutcome> {
  const id = `sentiment-${canary}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const view = await rt.controller.rollouts.get(id);
    const { total, rows } = await readDecisions(rt.warehouse, { rollout: id, waits: 'false', limit: 1000 });
    const decisions = [...rows].reverse();
    if (decisions.some((d) => finalAction(d, expected)) || Date.now() > deadline) {
      return { id, canary, expected, phase: view.phase, weight: view.weight, decisions, recorded: total };
    }
    await sleep(250);
  }
}

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw EmbeddedErrors.demoFailed('the demo was interrupted');
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch {
    throw EmbeddedErrors.demoFailed('the demo was interrupted');
  }
}
