/**
 * `npm run bench:canary`: the fixed scenario set through mlgate's rollout controller and through a
 * Flagger-style and a Kayenta-style baseline, over the same simulated traffic (same seeds, same
 * weight steps), then the scenario families of issue 16 (bench/canary/scenarios/). Prints the
 * table, checks the targets of issues 6 and 16 and writes bench/results/canary.json.
 *   node --import tsx bench/canary.ts [--runs-scale F] [--only-families]   (F < 1 for a quick look; results then not comparable)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { comparisonPolicies, flaggerConfig, kayentaConfig } from '../services/controller/sim/baselines/config.ts';
import { runScenario, type ScenarioResult } from '../services/controller/sim/run.ts';
import { FAMILIES, SCENARIOS, loadBenchScenario } from './canary/scenarios.ts';
import { checkTargets, formatTable } from './canary/report.ts';

const { values } = parseArgs({ options: { 'runs-scale': { type: 'string', default: '1' }, 'only-families': { type: 'boolean', default: false } } });
const scale = Number(values['runs-scale']);
if (!(scale > 0 && scale <= 1)) {
  console.error('--runs-scale must be in (0, 1]');
  process.exit(2);
}

const results: ScenarioResult[] = [];
const t0 = Date.now();
const all = [...(values['only-families'] ? [] : SCENARIOS), ...FAMILIES.map((f) => ({ ...f, file: `families/${f.file}` }))];
for (const { file, runs } of all) {
  const sc = loadBenchScenario(file);
  const n = Math.max(10, Math.round(runs * scale));
  for (const make of comparisonPolicies(sc)) {
    const r = runScenario(sc, { runs: n, policy: make });
    results.push(r);
    console.error(`[bench:canary] ${sc.name} / ${r.policy}: ${n} runs in ${(r.elapsedMs / 1000).toFixed(1)} s`);
  }
}
const targets = checkTargets(results);
console.log(formatTable(results));
console.log('');
for (const t of targets) console.log(`${t.ok ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`);

const out = fileURLToPath(new URL('./results/canary.json', import.meta.url));
mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(out, JSON.stringify({
  command: `npm run bench:canary${scale === 1 ? '' : ` -- --runs-scale ${scale}`}`,
  node: process.version, cpus: cpus().length, elapsedS: (Date.now() - t0) / 1000,
  baselines: { flagger: flaggerConfig(loadBenchScenario('aa.yaml')), kayenta: kayentaConfig(loadBenchScenario('aa.yaml')) },
  results, targets,
}, null, 2) + '\n');
console.log(`\nwrote ${out}`);
process.exitCode = targets.every((t) => t.ok) ? 0 : 1;
