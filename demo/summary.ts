/**
 * The lines `mlgate demo` prints when it ends: each rollout's outcome with its decisions as
 * recorded in ClickHouse, the load's totals, and how to look at it all again.
 */
import type { DemoResult } from './run.ts';

/**
 * How the reader runs mlgate: in a checkout (this module is TypeScript, run by tsx) through the
 * npm script; from the package or the image (compiled, dist/demo/) the `mlgate` on PATH, since an
 * installed package has no `npm run mlgate`.
 */
export const CLI_COMMAND = import.meta.url.endsWith('.ts') ? 'npm run mlgate --' : 'mlgate';

/** The summary's lines; `cli` is how to run mlgate (default {@link CLI_COMMAND}). */
export function demoSummary(r: DemoResult, opts: { stayed: boolean; cli?: string }): string[] {
  const cli = opts.cli ?? CLI_COMMAND;
  const lines = [
    '',
    r.ok ? 'Demo finished: the controller rolled back v2 and promoted v3.' : 'Demo finished, but NOT as expected (see below and the log).',
    `  took ${Math.round(r.durationS)} s; ${r.load.sent} requests sent (${r.load.withPii} with planted PII, redacted before telemetry)`,
    '',
  ];
  for (const x of r.rollouts) {
    const mark = x.phase === x.expected ? 'ok' : `EXPECTED ${x.expected}`;
    lines.push(`  ${x.id}: ${x.phase} at ${x.weight}% (${mark}); ${x.recorded} decisions recorded, these besides waits:`);
    for (const d of x.decisions) lines.push(`    ${d.ts}  ${d.action.padEnd(13)} ${String(d.weight_before).padStart(3)}% -> ${String(d.weight_after).padStart(3)}%  ${d.reason}`);
  }
  lines.push('', 'Every decision with its evidence, from ClickHouse:');
  if (opts.stayed) {
    lines.push(`  the stack is still running: rollout page ${r.running.urls.rolloutPage}, audit API ${r.running.urls.audit}/v1/rollouts/sentiment-v2/decisions`,
      '  (Bearer token: audit.tokens in the config below); Ctrl-C stops it, then the audit CLI works too.');
  }
  for (const x of r.rollouts) lines.push(`  ${cli} audit rollout ${x.id} --config ${r.configFile}`);
  lines.push(`  ${cli} audit verify --config ${r.configFile}     (the decisions' hash chain)`, `Logs: ${r.logFile}`);
  return lines;
}
