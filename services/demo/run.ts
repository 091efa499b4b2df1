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
import { applyEnvOverrides } from '../core/config.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { createLogger } from '../core/log.ts';
import { readDecisions, type DecisionRow } from '../controller/web/traffic.ts';
import type { RolloutSnapshot } from '../controller/web/types.ts';
import { parseEmbeddedConfig } from '../embedded/config.ts';
import { startEmbedded, type RunningEmbedded } from '../embedded/embedded.ts';
import { EmbeddedErrors } from '../embedded/errors.ts';
import { DEMO_CONSUMERS, DEMO_VERSIONS, FAST, FULL, demoConfig, demoRollout, type DemoTiming } from './config.ts';
import { startLoad, type Load, type LoadStats } from './load.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { LiveView } from './view.ts';

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
  const logFile = join(dataDir, 'mlgate.log');
  const configFile = join(dataDir, 'mlgate.yaml');
  const t0 = Date.now();

  const models: ModelServer[] = [];
  let running: RunningEmbedded | undefined;
  let load: Load | undefined;
  let viewTimer: NodeJS.Timeout | undefined;
  try {
    for (const v of DEMO_VERSIONS) {
      const { description: _d, ...server } = v;
      models.push(await startModelServer(server));
    }
    const modelUrls = Object.fromEntries(models.map((m) => [m.name, m.url]));
    let shadow: { version: string; percent: number } | undefined;
    // MLGATE_DATA_DIR names the base directory (the caller's choice); the demo's own is <base>/demo.
    const env = Object.fromEntries(Object.entries(o.env).filter(([k]) => k !== 'MLGATE_DATA_DIR'));
    const build = () => parseEmbeddedConfig(applyEnvOverrides(demoConfig({ dataDir, models: modelUrls, anyPorts: o.anyPorts, shadow }) as Record<string, unknown>, env), 'demo config');
    const cfg = build();
    writeFileSync(configFile, `# Written by mlgate demo: the config it ran with. Read its data with\n# mlgate audit rollout sentiment-v2 --config ${configFile}\n${toYaml(demoConfig({ dataDir, models: modelUrls, anyPorts: o.anyPorts }))}`);
    const logger = createLogger({ service: 'mlgate', level: cfg.log.level, destination: pino.destination({ dest: logFile, mkdir: true, sync: false }) });
    running = await startEmbedded(cfg, { logger, reloadGateway: () => build().gateway });
    o.onStarted?.(running);
    const rt = running;

    load = startLoad({ url: rt.urls.gateway, model: 'sentiment', rps: t.rps, apiKeys: Object.values(DEMO_CONSUMERS), seed: 7 });
    const view = new LiveView({ out: o.out, ...(o.tty !== undefined ? { tty: o.tty } : {}) });
    const history = new Map<string, string[]>();
    const seen = new Map<string, number>();
    let rollouts: readonly RolloutSnapshot[] = [];
    let stage = 'warming up: stable v1 serves all traffic';
    const frame = async () => {
      rollouts = await rt.controller.rollouts.list();
      for (const r of rollouts) {
        const d = r.latestDecision;
        if (d && d.seq !== seen.get(r.id)) {
          seen.set(r.id, d.seq);
          if (d.action !== 'wait') history.set(r.id, [...(history.get(r.id) ?? []), `${d.action}@${d.toWeight}%`]);
        }
      }
      view.draw({ elapsedS: (Date.now() - t0) / 1000, stage, rps: t.rps, load: load!.stats, rollouts, history });
    };
    const tick = () => { frame().catch(() => {}); };
    viewTimer = setInterval(tick, (o.tty ?? o.out.isTTY) ? 250 : 1000);
    viewTimer.unref();

    await wait(t.warmupS * 1000, o.signal);
    for (const step of PLAN) {
      stage = step.stage;
      shadow = { version: step.canary, percent: t.shadowPercent };
      await rt.gateway.admin.reload('demo', `shadow copies to the canary ${step.canary}`);
      await rt.controller.rollouts.create(demoRollout(step.canary, t), 'demo');
      const id = `sentiment-${step.canary}`;
      const deadline = Date.now() + t.rolloutDeadlineS * 1000;
      while (!TERMINAL.has((await rt.controller.rollouts.get(id)).phase)) {
        if (Date.now() > deadline) throw EmbeddedErrors.demoFailed(`rollout ${id} did not finish within ${t.rolloutDeadlineS} s`);
        await wait(500, o.signal);
      }
      await frame();
    }
    stage = 'done: reading the decisions back from ClickHouse';
    await load.stop();
    const outcomes: RolloutOutcome[] = [];
    for (const step of PLAN) outcomes.push(await outcomeOf(rt, step.canary, step.expected));
    clearInterval(viewTimer);
    await frame();
    view.done();
    const ok = outcomes.every((x) => x.phase === x.expected && x.decisions.some((d) => finalAction(d, x.expected)));
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= rt.stop().finally(() => Promise.all(models.map((m) => m.close()))).then(() => undefined));
    if (!o.stay) await stop();
    return { ok, rollouts: outcomes, load: load.stats, durationS: (Date.now() - t0) / 1000, configFile, dataDir, logFile, running: rt, stop };
  } catch (err) {
    clearInterval(viewTimer);
    await load?.stop();
    await running?.stop();
    await Promise.all(models.map((m) => m.close()));
    throw err;
  }
}

/** True when `d` is the decision that ends a rollout the expected way. */
function finalAction(d: DecisionRow, expected: 'rolled_back' | 'promoted'): boolean {
  return expected === 'rolled_back' ? d.action === 'rollback' : d.action === 'promote' && Number(d.weight_after) === 100;
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
