/**
 * What the simulator drives: a rollout policy. mlgate's state machine is one; the benchmark's
 * Flagger-style and Kayenta-style baselines (bench/canary/) are others, run over the same traffic.
 */
import type { AnalysisInput, AnalysisWindow } from '../analysis/input.ts';
import type { Decision } from '../rollout/decision.ts';
import { nextWindow, tick } from '../rollout/machine.ts';
import type { ResolvedRolloutSpec } from '../rollout/spec.ts';
import { createRollout, type RolloutState } from '../rollout/state.ts';

/** Where a run stands after a decision. */
export type PolicyStatus = 'running' | 'promoted' | 'rolled_back' | 'paused';

/** A rollout policy under simulation. Times are ms since the run started. */
export interface SimPolicy {
  /** Name shown in results. */
  readonly name: string;
  /** Seconds between decisions. */
  readonly intervalS: number;
  /** Latency/score sample size per arm and window. */
  readonly sampleSize: number;
  /** Starts the rollout at time 0; returns the canary's first weight. */
  start(): number;
  /** The window to collect before deciding at `now`, or null. */
  window(now: number): AnalysisWindow | null;
  /** Decides at `now` on the window's data; returns the status and the canary's weight. */
  decide(input: AnalysisInput | null, now: number): { status: PolicyStatus; weight: number };
}

/** mlgate's policy: the real state machine and statistics. `onDecision` sees every decision (tests, tracing). */
export function mlgatePolicy(spec: ResolvedRolloutSpec, onDecision?: (d: Decision) => void): SimPolicy {
  let state: RolloutState = createRollout(spec);
  const statusOf = (s: RolloutState): PolicyStatus =>
    s.phase === 'promoted' ? 'promoted' : s.phase === 'rolled_back' || s.phase === 'aborted' ? 'rolled_back' : s.phase === 'paused' ? 'paused' : 'running';
  return {
    name: 'mlgate',
    intervalS: spec.tick.intervalS,
    sampleSize: spec.analysis.sampleSize,
    start() {
      const t = tick(state, null, 0);
      state = t.state;
      onDecision?.(t.decision);
      return state.weight;
    },
    window: (now) => nextWindow(state, now),
    decide(input, now) {
      const t = tick(state, input, now);
      state = t.state;
      onDecision?.(t.decision);
      return { status: statusOf(state), weight: state.weight };
    },
  };
}
