/**
 * A rollout put into words and numbers for people: the step, the sample sizes against the step's
 * gates, and for each metric its status, its current values (canary against stable), its
 * tolerance and its test statistic against the threshold. The rollout page and the demo's
 * terminal view both show this, so they always agree.
 */
import type { MetricSpecSnapshot, RolloutSnapshot, VerdictSnapshot } from './types.ts';

/** One metric's line. */
export interface MetricLine {
  readonly name: string;
  readonly critical: boolean;
  /** regressed | accepted | inconclusive | no_data | pending */
  readonly status: string;
  /** The estimate, e.g. `canary 8.1% vs stable 0.0%`. */
  readonly value: string;
  /** The tolerance, e.g. `+5% +2.0pp`. */
  readonly tolerance: string;
  /** The rollback test against its threshold, e.g. `4.31 / 5.99`. */
  readonly test: string;
}

/** A rollout for display. */
export interface RolloutDisplay {
  readonly id: string;
  readonly title: string;
  readonly phase: string;
  readonly weight: number;
  /** e.g. `2/3 (50%)`, `4/4 (100%)` once promoted, `1/4 (10%), rolled back` when ended early; `-` before the start. */
  readonly step: string;
  /** Canary and stable requests analysed in the current step (from the latest decision). */
  readonly samples: Readonly<{ canary: number | null; stable: number | null }>;
  /** The current step's gates, e.g. `≥ 15 s and ≥ 150 canary requests`. */
  readonly gates: string;
  readonly elapsed: string;
  /** Time to the controller's next evaluation of the rollout (its next tick), e.g. `4 s`, `now`; `-` when ended or unknown. */
  readonly nextTick: string;
  /**
   * Time to the step's deadline, labelled: `step times out in 4 m 10 s`, `bake ends in 2 m 00 s`;
   * `-` when there is none (paused, ended).
   */
  readonly deadline: string;
  readonly decision: Readonly<{ action: string; reason: string; at: number; seq: number }> | null;
  readonly metrics: readonly MetricLine[];
}

const pct = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(digits)}%`);
const num = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** A number of seconds as `42 s` or `3 m 05 s`. */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '-';
  const r = Math.round(s);
  return r < 60 ? `${r} s` : `${Math.floor(r / 60)} m ${String(r % 60).padStart(2, '0')} s`;
}

/** The unit of a latency metric's column: output_tps is a rate, the others are times. */
const unitOf = (m: MetricSpecSnapshot): string => (m.field === 'output_tps' ? 'tokens/s' : 'ms');

function tolerance(m: MetricSpecSnapshot): string {
  const { relative, absolute } = m.tolerance;
  const parts: string[] = [];
  // A lower_is_worse latency column (an output rate) may be that much lower.
  const sign = m.kind === 'latency' && m.direction === 'lower_is_worse' ? '−' : '+';
  if (relative > 0) parts.push(`${sign}${num(relative * 100, 0)}%`);
  if (absolute > 0) {
    if (m.kind === 'latency') parts.push(`${sign}${num(absolute, 0)} ${unitOf(m)}`);
    else if (m.kind === 'error_rate' || m.kind === 'outcome_rate') parts.push(`+${num(absolute * 100, 1)}pp`);
    else if (m.kind === 'shadow_agreement') parts.push(`≤ ${pct(absolute, 0)} disagree`);
    else parts.push(`≤ ${num(absolute, 2)}`);
  }
  return parts.join(' ') || '0';
}

function value(m: MetricSpecSnapshot, e: Readonly<Record<string, number | null>> | undefined): string {
  if (!e) return '-';
  switch (m.kind) {
    case 'error_rate':
    case 'outcome_rate':
      return `canary ${pct(e.canaryRate)} vs stable ${pct(e.stableRate)}`;
    case 'latency': {
      return `canary ${num(e.canaryQuantile, 0)} ${unitOf(m)} vs stable ${num(e.stableQuantile, 0)} ${unitOf(m)}`;
    }
    case 'score_shift':
    case 'label_mix':
      return `distance ${num(e.distance, 3)}`;
    case 'shadow_agreement':
      return `disagree ${pct(e.disagreement)} of ${num(e.compared, 0)}`;
    default: {
      const first = Object.entries(e).find(([, v]) => typeof v === 'number');
      return first ? `${first[0]} ${num(first[1], 3)}` : '-';
    }
  }
}

function test(v: VerdictSnapshot | undefined): string {
  if (!v) return '-';
  return `${num(v.statistic, 2)} / ${num(v.threshold, 2)}`;
}

function samples(r: RolloutSnapshot): { canary: number | null; stable: number | null } {
  for (const e of Object.values(r.latestDecision?.estimates ?? {})) {
    if (typeof e.canaryRequests === 'number') return { canary: e.canaryRequests, stable: typeof e.stableRequests === 'number' ? e.stableRequests : null };
  }
  return { canary: null, stable: null };
}

/** Describes one rollout. */
export function describeRollout(r: RolloutSnapshot, now = Date.now()): RolloutDisplay {
  const d = r.latestDecision;
  const verdicts = new Map((d?.verdicts ?? []).map((v) => [v.name, v]));
  const step = r.stepIndex >= 0 ? r.spec.steps[r.stepIndex] : undefined;
  const terminal = r.phase === 'promoted' || r.phase === 'rolled_back' || r.phase === 'aborted';
  // A rollout that ended early holds 0%: its step is where it ended, said so, not its weight.
  const endedAt = r.phase === 'rolled_back' ? ', rolled back' : r.phase === 'aborted' ? ', aborted' : '';
  const until = (at: number | null | undefined) => (at === null || at === undefined ? null : Math.max(0, (at - now) / 1000));
  const tickIn = terminal ? null : until(r.nextTickAt);
  const deadlineIn = terminal ? null : until(r.stepDeadlineAt);
  return {
    id: r.id,
    title: `${r.model}: ${r.stable} → ${r.canary}`,
    phase: r.phase,
    weight: r.weight,
    step: step ? `${r.stepIndex + 1}/${r.steps.length} (${r.steps[r.stepIndex]}%)${endedAt}` : '-',
    samples: samples(r),
    gates: r.phase === 'baking'
      ? `baking at 100% for ${duration(r.spec.bake?.seconds ?? null)} (previous ${r.stable} kept at 0%); a regression against its baseline rolls back`
      : step ? `≥ ${duration(step.minDurationS)} and ≥ ${step.minSamples} canary requests, ≤ ${duration(step.maxDurationS)}` : '-',
    elapsed: r.startedAt === null ? '-' : duration(((r.finishedAt ?? now) - r.startedAt) / 1000),
    nextTick: tickIn === null ? '-' : tickIn < 0.5 ? 'now' : duration(tickIn),
    deadline: deadlineIn === null ? '-' : `${r.phase === 'baking' ? 'bake ends' : 'step times out'} in ${duration(deadlineIn)}`,
    decision: d ? { action: d.action, reason: d.reason, at: d.at, seq: d.seq } : null,
    metrics: r.spec.metrics.map((m) => {
      const v = verdicts.get(m.name);
      return {
        name: m.name, critical: m.critical, status: v?.status ?? 'pending',
        value: value(m, d?.estimates[m.name]), tolerance: tolerance(m), test: test(v),
      };
    }),
  };
}
