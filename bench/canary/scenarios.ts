/**
 * The benchmark's fixed scenario set (the YAML files under docs/examples/scenarios, so that
 * `mlgate simulate --scenario <file> --baselines` reproduces every row) and the scenario families.
 * The baselines' settings come from services/controller/sim/baselines/config.ts.
 */
import { fileURLToPath } from 'node:url';
import { loadScenario, type Scenario } from '../../services/controller/sim/scenario.ts';

/** Scenario files, in table order, with the run count the benchmark uses. */
export const SCENARIOS: readonly { file: string; runs: number }[] = [
  { file: 'aa.yaml', runs: 1000 },
  { file: 'errors-1-to-2.yaml', runs: 300 },
  { file: 'latency-p95-25.yaml', runs: 300 },
  { file: 'severe-errors.yaml', runs: 300 },
  { file: 'low-traffic.yaml', runs: 300 },
];

/**
 * Scenario families of issue 16 (bench/canary/scenarios/): traffic shaped like real rollouts, one
 * family per class measured there (warm-ups, per-interval noise, small and tail-only regressions,
 * zero and rare error rates, low traffic, telemetry gaps), and a regression that starts after 100%
 * (caught by the bake).
 */
export const FAMILIES: readonly { file: string; runs: number }[] = [
  { file: 'aa-2000.yaml', runs: 300 },
  { file: 'warmup-30s-2x.yaml', runs: 300 },
  { file: 'warmup-20s-1.5x-version.yaml', runs: 200 },
  { file: 'noise-400.yaml', runs: 300 },
  { file: 'noise-2000.yaml', runs: 300 },
  { file: 'noise-both-20s.yaml', runs: 200 },
  { file: 'p99-only-40.yaml', runs: 200 },
  { file: 'errors-1-to-1.3.yaml', runs: 200 },
  { file: 'zero-errors.yaml', runs: 200 },
  { file: 'rare-errors.yaml', runs: 200 },
  { file: 'telemetry-gap.yaml', runs: 200 },
  { file: 'aa-2rps.yaml', runs: 100 },
  { file: 'leak-after-promotion.yaml', runs: 200 },
];

/** Loads one benchmark scenario (the fixed set's file name, or `families/<file>` for a family). */
export function loadBenchScenario(file: string): Scenario {
  if (file.startsWith('families/')) return loadScenario(fileURLToPath(new URL(`./scenarios/${file.slice('families/'.length)}`, import.meta.url)));
  return loadScenario(fileURLToPath(new URL(`../../docs/examples/scenarios/${file}`, import.meta.url)));
}
