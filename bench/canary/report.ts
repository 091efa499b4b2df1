/** The benchmark's table and target checks (issues 6 and 16, "Done when"), with 95% Wilson intervals on the rates. */
import { wilson, type ScenarioResult } from '../../services/controller/sim/run.ts';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

const ci = (k: number, n: number) => {
  const [lo, hi] = wilson(k, n);
  return `${pct(k / n)} [${(100 * lo).toFixed(1)}-${(100 * hi).toFixed(1)}]`;
};
const secs = (x: number | null) => (x === null ? '-' : x >= 600 ? `${(x / 60).toFixed(1)}m` : `${Math.round(x)}s`);

/** Time until the canary had 100% over the promoted runs (results written before the bake: time to promote). */
export function toFull(r: ScenarioResult): ScenarioResult['timeToPromoteS'] {
  return r.timeToFullS ?? r.timeToPromoteS;
}

/** The results as a Markdown table. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const head = ['scenario', 'controller', 'runs', 'false rollback [95% CI]', 'promoted', 'rolled back [95% CI]', 'in the bake', 'paused/undecided', 'rollback median', 'rollback p95', 'to 100% median'];
  const rows = results.map((r) => [
    r.scenario, r.policy, String(r.runs),
    r.expect === 'promote' ? ci(r.rollbacks, r.runs) : '-',
    pct(r.promotionRate),
    r.expect === 'rollback' ? ci(r.rollbacks, r.runs) : '-',
    r.bakeRollbacks ? String(r.bakeRollbacks) : '-',
    pct((r.paused + r.undecided) / r.runs),
    secs(r.timeToRollbackS.median), secs(r.timeToRollbackS.p95), secs(toFull(r).median),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** One target and whether it holds. */
export interface TargetCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Checks the targets against the results. */
export function checkTargets(results: readonly ScenarioResult[]): TargetCheck[] {
  const get = (scenario: string, policy: string) => results.find((r) => r.scenario === scenario && r.policy === policy);
  const out: TargetCheck[] = [];
  const aa = get('aa', 'mlgate');
  if (aa) {
    out.push({ name: 'A/A false rollback <= 1%', ok: aa.rollbackRate <= 0.01, detail: `${pct(aa.rollbackRate)} over ${aa.runs} rollouts` });
    out.push({ name: 'A/A promoted >= 95%', ok: aa.promotionRate >= 0.95, detail: pct(aa.promotionRate) });
  }
  // Issue 16. "Caught before 100%": not promoted (rolled back, or paused for a person).
  const caught = (r: ScenarioResult) => 1 - r.promotionRate;
  const fr = (name: string, max: number) => {
    const r = get(name, 'mlgate');
    if (r) out.push({ name: `${name}: false rollbacks <= ${pct(max)}`, ok: r.rollbackRate <= max, detail: `${ci(r.rollbacks, r.runs)} over ${r.runs}` });
  };
  fr('warmup-30s-2x', 0.02);
  fr('noise-400', 0.03);
  fr('noise-2000', 0.03);
  fr('aa-2000', 0.01);
  for (const s of ['p99-only-40', 'errors-1-to-1.3']) {
    const r = get(s, 'mlgate');
    if (r) out.push({ name: `${s}: caught before 100% in >= 90%`, ok: caught(r) >= 0.9, detail: `${pct(caught(r))} (rolled back ${pct(r.rollbackRate)}, paused ${pct((r.paused + r.undecided) / r.runs)})` });
  }
  const zero = get('zero-errors', 'mlgate');
  if (zero) out.push({ name: 'zero-errors: promoted >= 95%', ok: zero.promotionRate >= 0.95, detail: pct(zero.promotionRate) });
  if (aa) out.push({ name: 'A/A at 400 req/s: median time to 100% <= 15 min', ok: toFull(aa).median !== null && toFull(aa).median! <= 900, detail: `${secs(toFull(aa).median)} (then the bake)` });
  const leak = get('leak-after-promotion', 'mlgate');
  if (leak) {
    const k = leak.bakeRollbacks ?? 0;
    out.push({ name: 'leak-after-promotion: caught during the bake in >= 90%', ok: k / leak.runs >= 0.9, detail: `${ci(k, leak.runs)}, median ${secs(leak.bakeRollbackAfterS?.median ?? null)} after 100%` });
  }
  for (const s of ['errors-1-to-2', 'latency-p95-25']) {
    const r = get(s, 'mlgate');
    if (!r) continue;
    out.push({ name: `${s} rolled back >= 95%`, ok: r.rollbackRate >= 0.95, detail: pct(r.rollbackRate) });
    out.push({ name: `${s} median time to rollback <= 120 s`, ok: r.timeToRollbackS.median !== null && r.timeToRollbackS.median <= 120, detail: secs(r.timeToRollbackS.median) });
  }
  for (const base of ['flagger', 'kayenta']) {
    // Every scenario where the canary is good counts: a tie at zero in one scenario is not "fewer".
    const good = results.filter((r) => r.expect === 'promote');
    const falseRb = (policy: string) => good.filter((r) => r.policy === policy).reduce((a, r) => a + r.rollbacks, 0);
    const runsOf = (policy: string) => good.filter((r) => r.policy === policy).reduce((a, r) => a + r.runs, 0);
    if (runsOf(base) > 0) {
      out.push({
        name: `fewer false rollbacks than ${base} (all good-canary scenarios)`,
        ok: falseRb('mlgate') < falseRb(base),
        detail: `${falseRb('mlgate')}/${runsOf('mlgate')} vs ${falseRb(base)}/${runsOf(base)}`,
      });
    }
    for (const s of ['errors-1-to-2', 'latency-p95-25', 'severe-errors']) {
      const m = get(s, 'mlgate');
      const b = get(s, base);
      if (!m || !b) continue;
      const faster = m.timeToRollbackS.median !== null && (b.timeToRollbackS.median === null || m.timeToRollbackS.median <= b.timeToRollbackS.median);
      out.push({ name: `${s}: detection at least ${base}'s, and as fast`, ok: m.rollbackRate >= b.rollbackRate && faster, detail: `${pct(m.rollbackRate)} in ${secs(m.timeToRollbackS.median)} vs ${pct(b.rollbackRate)} in ${secs(b.timeToRollbackS.median)}` });
    }
  }
  return out;
}
