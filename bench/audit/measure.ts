/** Timing helpers of the audit benchmark: repeated runs with min / median / p95 / max, and a table. */

/** Latency of one audit question over several runs. */
export interface Timing {
  name: string;
  /** What it asks, in words. */
  what: string;
  runs: number;
  min_ms: number;
  median_ms: number;
  p95_ms: number;
  max_ms: number;
  /** Rows the question returned (last run). */
  rows: number;
  /**
   * Median CPU time of the process (all threads: the embedded engine runs in it) per run. On a
   * shared machine wall time includes waiting for a core; this is what the question costs.
   */
  cpu_median_ms: number;
  /** Target from the issue, when there is one. */
  target_ms?: number;
  /** Same question without the data-skipping indexes (raw SQL, `use_skip_indexes = 0`), median. */
  no_index_median_ms?: number;
}

const round = (x: number) => Math.round(x * 10) / 10;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs `fn` once to warm up, then `runs` times; `fn` resolves with the number of rows it got. */
export async function time(name: string, what: string, runs: number, fn: () => Promise<number>, target?: number): Promise<Timing> {
  await fn();
  const ms: number[] = [];
  const cpu: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    rows = await fn();
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  ms.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return {
    name, what, runs, rows, min_ms: round(ms[0]!), median_ms: round(pct(ms, 50)), p95_ms: round(pct(ms, 95)), max_ms: round(ms[ms.length - 1]!),
    cpu_median_ms: round(pct(cpu, 50)),
    ...(target ? { target_ms: target } : {}),
  };
}

/** The results as an aligned text table. */
export function table(timings: readonly Timing[]): string {
  const head = ['question', 'runs', 'rows', 'min ms', 'median ms', 'p95 ms', 'max ms', 'cpu ms', 'no-index ms', 'target'];
  const body = timings.map((t) => [
    t.name, String(t.runs), String(t.rows), String(t.min_ms), String(t.median_ms), String(t.p95_ms), String(t.max_ms), String(t.cpu_median_ms),
    t.no_index_median_ms === undefined ? '' : String(t.no_index_median_ms),
    t.target_ms === undefined ? '' : `${t.max_ms <= t.target_ms ? 'PASS' : 'FAIL'} <= ${t.target_ms}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
