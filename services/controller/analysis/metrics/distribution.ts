/**
 * Distribution metrics: prediction label mix and prediction score shift (Kolmogorov-Smirnov or
 * PSI over bins). Both are judged from time-uniform confidence sequences on category shares
 * (stats/proportion-cs.ts), combined with a Bonferroni split over a number of slots fixed up
 * front, so the bounds hold at every look:
 * - rollback when the lower bound of the distance (whole rollout, level α) exceeds the tolerance;
 * - accept the step when the upper bound of the distance (this step, level β) is at most
 *   detect × tolerance.
 * Score bins are the deciles (or `bins`-tiles) of stable's scores in the first window that has
 * enough of them; that window fixes the edges and is not counted.
 */
import type { ResolvedMetric } from '../../rollout/spec.ts';
import type { AnalysisInput } from '../input.ts';
import { proportionCS, type Interval } from '../stats/proportion-cs.ts';
import type { BoundsState, FoldContext, MetricVerdict } from './types.ts';

type LabelMetric = Extract<ResolvedMetric, { kind: 'label_mix' }>;
type ScoreMetric = Extract<ResolvedMetric, { kind: 'score_shift' }>;

/** Floor applied to bin shares in PSI so an empty bin does not make it infinite. */
export const PSI_FLOOR = 1e-4;

/** A fresh label-mix or score-shift metric. */
export function initDistribution(config: LabelMetric | ScoreMetric, alpha: number, beta: number): BoundsState {
  const slots = config.kind === 'label_mix' ? config.maxLabels + 1 : config.bins;
  const zeros = () => new Array<number>(slots).fill(0);
  return {
    test: 'bounds', config, alpha, beta,
    measure: config.kind === 'label_mix' ? 'share' : config.method,
    categories: config.kind === 'label_mix' ? [] : null,
    edges: null, slots,
    rollout: { canary: zeros(), stable: zeros() }, step: { canary: zeros(), stable: zeros() },
    estimate: {}, last: null, etaRejectS: null, etaAcceptS: null,
  };
}

/** The state with this step's counts cleared. */
export function resetDistributionStep(s: BoundsState): BoundsState {
  return { ...s, step: { canary: new Array<number>(s.slots).fill(0), stable: new Array<number>(s.slots).fill(0) } };
}

function add(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, i) => x + b[i]!);
}

function binOf(edges: readonly number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function foldLabels(s: BoundsState, input: AnalysisInput): { s: BoundsState; c: number[]; st: number[] } {
  const m = s.config as LabelMetric;
  const categories = [...(s.categories ?? [])];
  const c = new Array<number>(s.slots).fill(0);
  const st = new Array<number>(s.slots).fill(0);
  const slot = (label: string): number => {
    let i = categories.indexOf(label);
    if (i < 0 && categories.length < m.maxLabels) i = categories.push(label) - 1;
    return i < 0 ? s.slots - 1 : i;
  };
  const labels = [...new Set([...Object.keys(input.stable.labelCounts ?? {}), ...Object.keys(input.canary.labelCounts ?? {})])].sort();
  for (const l of labels) {
    const i = slot(l);
    c[i]! += input.canary.labelCounts?.[l] ?? 0;
    st[i]! += input.stable.labelCounts?.[l] ?? 0;
  }
  return { s: { ...s, categories }, c, st };
}

function foldScores(s: BoundsState, input: AnalysisInput): { s: BoundsState; c: number[]; st: number[] } {
  const zeros = () => new Array<number>(s.slots).fill(0);
  const ss = input.stable.scoreSample ?? [];
  if (!s.edges) {
    if (ss.length < 5 * s.slots) return { s, c: zeros(), st: zeros() };
    const sorted = Float64Array.from(ss).sort();
    const edges = [...new Set(Array.from({ length: s.slots - 1 }, (_, i) => sorted[Math.ceil(((i + 1) / s.slots) * sorted.length) - 1]!))];
    return { s: { ...s, edges }, c: zeros(), st: zeros() };
  }
  const c = zeros();
  const st = zeros();
  for (const v of input.canary.scoreSample ?? []) c[binOf(s.edges, v)]! += 1;
  for (const v of ss) st[binOf(s.edges, v)]! += 1;
  return { s, c, st };
}

/** Folds one window into a distribution metric. */
export function foldDistribution(s0: BoundsState, input: AnalysisInput, _ctx: FoldContext): BoundsState {
  const { s, c, st } = s0.config.kind === 'label_mix' ? foldLabels(s0, input) : foldScores(s0, input);
  const next: BoundsState = {
    ...s,
    rollout: { canary: add(s.rollout.canary, c), stable: add(s.rollout.stable, st) },
    step: { canary: add(s.step.canary, c), stable: add(s.step.stable, st) },
    last: { canaryCount: c.reduce((a, b) => a + b, 0), stableCount: st.reduce((a, b) => a + b, 0) },
  };
  const d = distance(next.measure, next.step.canary, next.step.stable);
  return { ...next, estimate: { distance: d, tolerance: next.config.tolerance.absolute } };
}

function shares(counts: readonly number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.map((x) => (n > 0 ? x / n : 0));
}

function cumulative(counts: readonly number[]): number[] {
  let acc = 0;
  return counts.slice(0, -1).map((x) => (acc += x));
}

function psiTerm(c: number, s: number): number {
  const a = Math.max(c, PSI_FLOOR);
  const b = Math.max(s, PSI_FLOOR);
  return (a - b) * Math.log(a / b);
}

/** The point estimate of the metric's distance between the two count vectors. */
export function distance(measure: BoundsState['measure'], canary: readonly number[], stable: readonly number[]): number | null {
  const nc = canary.reduce((a, b) => a + b, 0);
  const ns = stable.reduce((a, b) => a + b, 0);
  if (nc === 0 || ns === 0) return null;
  if (measure === 'psi') {
    const c = shares(canary);
    const s = shares(stable);
    return c.reduce((acc, x, i) => acc + psiTerm(x, s[i]!), 0);
  }
  const c = measure === 'ks' ? cumulative(canary).map((x) => x / nc) : shares(canary);
  const s = measure === 'ks' ? cumulative(stable).map((x) => x / ns) : shares(stable);
  return c.reduce((acc, x, i) => Math.max(acc, Math.abs(x - s[i]!)), 0);
}

/** Time-uniform bounds [lower, upper] on the distance, each share's interval at level `level`. */
export function distanceBounds(measure: BoundsState['measure'], canary: readonly number[], stable: readonly number[], alpha: number): Interval | null {
  const nc = canary.reduce((a, b) => a + b, 0);
  const ns = stable.reduce((a, b) => a + b, 0);
  if (nc === 0 || ns === 0) return null;
  const props = measure === 'ks' ? [cumulative(canary), cumulative(stable)] : [canary, stable];
  const per = alpha / (2 * props[0]!.length);
  const ci = (k: number, n: number) => proportionCS(Math.min(k, n), n, per);
  let lower = 0;
  let upper = 0;
  for (let i = 0; i < props[0]!.length; i++) {
    const a = ci(props[0]![i]!, nc);
    const b = ci(props[1]![i]!, ns);
    if (measure === 'psi') {
      lower += a.upper < b.lower ? psiTerm(a.upper, b.lower) : b.upper < a.lower ? psiTerm(a.lower, b.upper) : 0;
      upper += Math.max(psiTerm(a.lower, b.upper), psiTerm(a.upper, b.lower), psiTerm(a.lower, b.lower), psiTerm(a.upper, b.upper));
    } else {
      lower = Math.max(lower, a.lower - b.upper, b.lower - a.upper);
      upper = Math.max(upper, a.upper - b.lower, b.upper - a.lower);
    }
  }
  return { lower, upper };
}

/** The verdict of a distribution metric. */
export function judgeDistribution(s: BoundsState): MetricVerdict {
  const tol = s.config.tolerance.absolute;
  const limit = tol * s.config.detect;
  const rb = distanceBounds(s.measure, s.rollout.canary, s.rollout.stable, s.alpha);
  const sb = distanceBounds(s.measure, s.step.canary, s.step.stable, s.beta);
  const base = { statistic: rb?.lower ?? 0, threshold: tol, acceptStatistic: sb?.upper ?? Number.MAX_VALUE, acceptThreshold: limit };
  const label = `${s.config.name} (${s.measure})`;
  if (rb && rb.lower > tol) return { ...base, status: 'regressed', summary: `${label}: distance >= ${rb.lower.toFixed(3)} > tolerance ${tol}` };
  if (sb && sb.upper <= limit) return { ...base, status: 'accepted', summary: `${label}: distance <= ${sb.upper.toFixed(3)} within ${limit}` };
  if (!sb) return { ...base, status: 'no_data', summary: `${label}: no data in this step yet` };
  return { ...base, status: 'inconclusive', summary: `${label}: distance in [${(rb?.lower ?? 0).toFixed(3)}, ${sb.upper.toFixed(3)}], not decided yet` };
}
