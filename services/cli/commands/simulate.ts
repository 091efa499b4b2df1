/**
 * `mlgate simulate --scenario FILE [--runs N] [--seed S] [--out FILE]`: runs the real rollout
 * decision code over synthetic traffic (services/controller/sim) and prints the results as JSON
 * (a one-line summary goes to stderr); with --out the JSON is also written to FILE.
 * Scenario format: docs/canary.md.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { EnvSnapshot } from '../../core/env.ts';
import { CoreErrors } from '../../core/errors.ts';
import { runScenario } from '../../controller/sim/run.ts';
import { loadScenario } from '../../controller/sim/scenario.ts';

const USAGE = 'usage: mlgate simulate --scenario FILE [--runs N] [--seed S] [--out FILE]';

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
  let values: { scenario?: string; runs?: string; seed?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: { scenario: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    console.error(`mlgate simulate: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let runs: number | undefined;
  let seed: number | undefined;
  try {
    if (!values.scenario) throw CoreErrors.badArgument('--scenario FILE is required', { details: { argument: 'scenario' } });
    runs = int('runs', values.runs, 1, 100000);
    seed = int('seed', values.seed, 0, 2 ** 32 - 1);
  } catch (err) {
    console.error(`mlgate simulate: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const scenario = loadScenario(values.scenario!);
  const result = runScenario(scenario, { ...(runs !== undefined ? { runs } : {}), ...(seed !== undefined ? { seed } : {}) });
  const doc = { scenarioFile: values.scenario, ...result, rollout: scenario.rollout };
  const json = JSON.stringify(doc, null, 2);
  const secs = (x: number | null) => (x === null ? '-' : `${Math.round(x)}s`);
  console.error(
    `${result.scenario}: ${result.runs} runs, ${result.rollbacks} rolled back, ${result.promotions} promoted, ` +
    `${result.paused} paused, ${result.undecided} undecided; time to rollback median ${secs(result.timeToRollbackS.median)} ` +
    `p95 ${secs(result.timeToRollbackS.p95)}; time to promote median ${secs(result.timeToPromoteS.median)}`,
  );
  console.log(json);
  if (values.out) writeFileSync(values.out, json + '\n');
  return 0;
}
