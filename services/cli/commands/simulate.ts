/**
 * `mlgate simulate --scenario FILE [--runs N] [--seed S] [--baselines] [--out FILE]`: runs the real
 * rollout decision code over synthetic traffic (services/controller/sim) and prints the results as
 * JSON with 95% Wilson intervals on the rates (a one-line summary per policy goes to stderr); with
 * --baselines the Flagger-style and Kayenta-style policies run over the same traffic too; with
 * --out the JSON is also written to FILE.
 * Scenario format: docs/canary.md.
 */
import { writeFileSync } from 'node:fs';
import type { EnvSnapshot } from '../../core/env.ts';
import { CoreErrors } from '../../core/errors.ts';
import { comparisonPolicies } from '../../controller/sim/baselines/config.ts';
import { runScenario, wilson, type ScenarioResult } from '../../controller/sim/run.ts';
import { loadScenario } from '../../controller/sim/scenario.ts';
import { HELP_OPTION, parseCommand, requireReadableFile, usageFailure, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'simulate',
  usage: '--scenario FILE [--runs N] [--seed S] [--baselines] [--out FILE]',
  description: `Runs the controller's real decision code over synthetic traffic: a scenario file (YAML) gives the
rollout (steps, thresholds) and how the stable and canary versions behave (error rates, latency,
traffic). Prints the results as JSON on stdout (how often the canary was rolled back, promoted,
paused or left undecided, with 95% confidence intervals on the rates, and how long that took) and
a one-line summary on stderr. With --baselines a Flagger-style and a Kayenta-style controller run
over the same traffic (same seeds) for comparison (docs/canary.md, "Benchmark"). Use it to
tune a rollout's thresholds before a real one. Needs no Kafka and no ClickHouse. Scenario
format: docs/canary.md.`,
  options: [
    ['--scenario FILE', 'the scenario, required'],
    ['--runs N', 'independent runs to simulate, 1 to 100000 (default: the scenario\'s runs)'],
    ['--seed S', 'random seed, 0 to 2^32-1: the same seed gives the same results (default: the scenario\'s seed)'],
    ['--baselines', 'also run the Flagger-style and Kayenta-style baselines over the same traffic; the JSON then has one result per controller'],
    ['--out FILE', 'also write the JSON results to FILE'],
    HELP_OPTION,
  ],
  examples: [
    'mlgate simulate --scenario docs/examples/scenarios/errors-1-to-2.yaml --runs 200 --seed 7 --out results.json',
    'mlgate simulate --scenario docs/examples/scenarios/aa.yaml --runs 300 --baselines',
  ],
};

function int(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw CoreErrors.badArgument(`--${name}: expected an integer from ${min} to ${max}, got '${raw}'`, { details: { argument: name } });
  }
  return n;
}

/** Runs the subcommand; returns the exit code (2 for usage errors). */
export async function run(argv: string[], _env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ scenario?: string; runs?: string; seed?: string; out?: string; baselines?: boolean }>(HELP, argv, {
    scenario: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, baselines: { type: 'boolean' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  let runs: number | undefined;
  let seed: number | undefined;
  try {
    if (!values.scenario) throw CoreErrors.badArgument('--scenario FILE is required', { details: { argument: 'scenario' } });
    runs = int('runs', values.runs, 1, 100000);
    seed = int('seed', values.seed, 0, 2 ** 32 - 1);
  } catch (err) {
    return usageFailure(HELP, (err as Error).message);
  }
  requireReadableFile('--scenario', values.scenario!);
  const scenario = loadScenario(values.scenario!);
  const opts = { ...(runs !== undefined ? { runs } : {}), ...(seed !== undefined ? { seed } : {}) };
  const withCi = (r: ScenarioResult) => ({ ...r, rollbackRateCI95: wilson(r.rollbacks, r.runs), promotionRateCI95: wilson(r.promotions, r.runs) });
  const results = values.baselines
    ? comparisonPolicies(scenario).map((policy) => withCi(runScenario(scenario, { ...opts, policy })))
    : [withCi(runScenario(scenario, opts))];
  // One result: its fields at the top level (as before --baselines existed); several: a list.
  const doc = values.baselines
    ? { scenarioFile: values.scenario, results, rollout: scenario.rollout }
    : { scenarioFile: values.scenario, ...results[0]!, rollout: scenario.rollout };
  const json = JSON.stringify(doc, null, 2);
  const secs = (x: number | null) => (x === null ? '-' : `${Math.round(x)}s`);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const ci = ([lo, hi]: [number, number]) => `[${pct(lo)}-${pct(hi)}]`;
  for (const r of results) {
    console.error(
      `${r.scenario}${values.baselines ? ` / ${r.policy}` : ''}: ${r.runs} runs, ${r.rollbacks} rolled back (${pct(r.rollbackRate)} ${ci(r.rollbackRateCI95)}), ` +
      `${r.promotions} promoted (${pct(r.promotionRate)} ${ci(r.promotionRateCI95)}), ${r.paused} paused, ${r.undecided} undecided` +
      `${r.bakeRollbacks ? ` (${r.bakeRollbacks} rolled back in the bake)` : ''}; time to rollback median ${secs(r.timeToRollbackS.median)} ` +
      `p95 ${secs(r.timeToRollbackS.p95)}; time to promote median ${secs(r.timeToPromoteS.median)}`,
    );
  }
  console.log(json);
  if (values.out) writeFileSync(values.out, json + '\n');
  return 0;
}
