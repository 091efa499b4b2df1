/**
 * The controller's Prometheus metrics (names fixed: the dashboards and alerts use them; see
 * docs/controller.md). Rollout series are exported by the leader only (a standby clears them), so
 * `max by (rollout)` and `sum(mlgate_controller_is_leader)` read one controller's view.
 *
 * `analysis_value` / `analysis_tolerance`: each metric's headline number against the bound it
 * must stay within, in the same unit (see {@link headline}); `analysis_statistic` /
 * `analysis_threshold`: the sequential test's log statistic against its rollback threshold.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetricState } from '../analysis/metrics/types.ts';
import { judge } from '../analysis/evaluate.ts';
import { PHASES } from '../rollout/decision.ts';
import type { RolloutState } from '../rollout/state.ts';

type RolloutLabels = 'rollout' | 'model';

const ACTIONS = ['start', 'wait', 'promote', 'complete', 'finish', 'rollback', 'pause', 'resume', 'abort'] as const;

/** A metric's headline value and its bound, or null when there is no estimate yet. */
export function headline(m: MetricState): { value: number; tolerance: number } | null {
  const e = m.estimate;
  const { relative, absolute } = m.config.tolerance;
  const down = m.config.direction === 'lower_is_worse';
  const bound = (base: number) => (down ? base * (1 - relative) - absolute : base * (1 + relative) + absolute);
  const pick = (v: number | null | undefined, t: number | null | undefined) =>
    typeof v === 'number' && Number.isFinite(v) && typeof t === 'number' && Number.isFinite(t) ? { value: v, tolerance: t } : null;
  switch (m.config.kind) {
    case 'error_rate':
    case 'outcome_rate':
      return pick(e.canaryRate, typeof e.stableRate === 'number' ? bound(e.stableRate) : null);
    case 'latency':
      if (m.test === 'normal') return pick(e.aucExcess, 0);
      return pick(e.canaryQuantile, typeof e.stableQuantile === 'number' ? bound(e.stableQuantile) : null);
    case 'custom_sql':
      if (m.config.aggregate === 'count') return pick(e.canaryRate, typeof e.stableRate === 'number' ? bound(e.stableRate) : null);
      return pick(e.lastCanary, typeof e.lastStable === 'number' ? bound(e.lastStable) : null);
    case 'shadow_agreement':
      return pick(e.disagreement, absolute);
    case 'score_shift':
    case 'label_mix':
      return pick(e.distance, absolute);
  }
}

/** The controller's metrics on one registry. */
export class ControllerMetrics {
  readonly phase: Gauge<RolloutLabels | 'phase'>;
  readonly weight: Gauge<RolloutLabels>;
  readonly decisions: Counter<RolloutLabels | 'action'>;
  readonly stepSeconds: Gauge<RolloutLabels>;
  readonly value: Gauge<RolloutLabels | 'metric'>;
  readonly tolerance: Gauge<RolloutLabels | 'metric'>;
  readonly statistic: Gauge<RolloutLabels | 'metric'>;
  readonly threshold: Gauge<RolloutLabels | 'metric'>;
  readonly isLeader: Gauge;
  readonly ticks: Counter<'result'>;
  readonly collectSeconds: Histogram;
  readonly deliveryFailures: Counter<'what'>;
  private readonly steps = new Map<string, { model: string; since: number | null; until: number | null }>();

  constructor(registry: Registry, now: () => number = Date.now) {
    const registers = [registry];
    this.phase = new Gauge({ name: 'mlgate_controller_rollout_phase', help: 'Rollout phase: 1 for the current phase, 0 for the others', labelNames: ['rollout', 'model', 'phase'], registers });
    this.weight = new Gauge({ name: 'mlgate_controller_canary_weight', help: 'Canary traffic weight in percent', labelNames: ['rollout', 'model'], registers });
    this.decisions = new Counter({ name: 'mlgate_controller_decisions_total', help: 'Decisions by action (wait, promote, complete, rollback, pause, start, resume, abort)', labelNames: ['rollout', 'model', 'action'], registers });
    const steps = this.steps;
    this.stepSeconds = new Gauge({
      name: 'mlgate_controller_step_seconds', help: 'Seconds in the current weight step (frozen when the rollout ends)', labelNames: ['rollout', 'model'], registers,
      collect() {
        const t = now();
        for (const [rollout, s] of steps) if (s.since !== null) this.labels(rollout, s.model).set(Math.max(0, ((s.until ?? t) - s.since) / 1000));
      },
    });
    this.value = new Gauge({ name: 'mlgate_controller_analysis_value', help: 'Latest analysis value per metric (canary rate, quantile in ms, distance, ...)', labelNames: ['rollout', 'model', 'metric'], registers });
    this.tolerance = new Gauge({ name: 'mlgate_controller_analysis_tolerance', help: 'The bound the analysis value must stay within (same unit)', labelNames: ['rollout', 'model', 'metric'], registers });
    this.statistic = new Gauge({ name: 'mlgate_controller_analysis_statistic', help: 'Log statistic of the metric\'s sequential rollback test', labelNames: ['rollout', 'model', 'metric'], registers });
    this.threshold = new Gauge({ name: 'mlgate_controller_analysis_threshold', help: 'Rollback threshold of the metric\'s test statistic', labelNames: ['rollout', 'model', 'metric'], registers });
    this.isLeader = new Gauge({ name: 'mlgate_controller_is_leader', help: '1 while this controller leads (acts on rollouts)', registers });
    this.ticks = new Counter({ name: 'mlgate_controller_ticks_total', help: 'Rollout ticks by result (ok, no_window, collect_failed, failed)', labelNames: ['result'], registers });
    this.collectSeconds = new Histogram({ name: 'mlgate_controller_collect_seconds', help: 'Time to collect one analysis window from ClickHouse', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.deliveryFailures = new Counter({ name: 'mlgate_controller_delivery_failures_total', help: 'Failed deliveries of a saved transition (decision row, routing state), retried', labelNames: ['what'], registers });
    this.isLeader.set(0);
  }

  /** Shows a rollout's state. */
  show(s: RolloutState): void {
    const rollout = s.spec.id;
    const model = s.spec.model;
    for (const p of PHASES) this.phase.labels(rollout, model, p).set(p === s.phase ? 1 : 0);
    this.weight.labels(rollout, model).set(s.weight);
    // Every action's series exists from the start, so increase() sees the first rollback too.
    for (const a of ACTIONS) this.decisions.labels(rollout, model, a).inc(0);
    this.steps.set(rollout, { model, since: s.stepStartedAt, until: s.finishedAt });
    for (const m of s.metrics) {
      const name = m.config.name;
      const h = headline(m);
      if (h) {
        this.value.labels(rollout, model, name).set(h.value);
        this.tolerance.labels(rollout, model, name).set(h.tolerance);
      }
      const v = judge(m);
      if (Number.isFinite(v.statistic)) this.statistic.labels(rollout, model, name).set(v.statistic);
      if (Number.isFinite(v.threshold)) this.threshold.labels(rollout, model, name).set(v.threshold);
    }
  }

  /** Counts a decision. */
  decided(s: RolloutState, action: string): void {
    this.decisions.labels(s.spec.id, s.spec.model, action).inc();
  }

  /** Forgets every rollout series (a standby exports none). */
  clearRollouts(): void {
    for (const g of [this.phase, this.weight, this.stepSeconds, this.value, this.tolerance, this.statistic, this.threshold]) g.reset();
    this.steps.clear();
  }
}
