/**
 * The lines `mlgate demo` prints when it ends: each rollout's outcome with its decisions as
 * recorded in ClickHouse, the load's totals, and how to look at it all again.
 */
import type { DemoResult } from './run.ts';

/** The summary's lines. */
export function demoSummary(r: DemoResult, opts: { stayed: boolean }): string[] {
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
  for (const x of r.rollouts) lines.push(`  npm run mlgate -- audit rollout ${x.id} --config ${r.configFile}`);
  lines.push(`  npm run mlgate -- audit verify --config ${r.configFile}     (the decisions' hash chain)`, `Logs: ${r.logFile}`);
  return lines;
}
