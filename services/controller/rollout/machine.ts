/**
 * The rollout state machine. Pure: no I/O, no clock; every function takes `now` (ms) and data and
 * returns the next state with the decision it made.
 *
 *   pending ──start──▶ progressing{step} ──promote──▶ progressing{step+1} ──complete──▶ baking ──finish──▶ promoted
 *                        │   ▲                                   │                   │ (bake 0: complete ──▶ promoted)
 *                  pause │   │ resume                   rollback │ (regression; or   │ rollback (regression against
 *                        ▼   │                                   ▼  timeout)         ▼  stable's baseline)
 *                        paused ───────── rollback ─────────▶ rolled_back ◀──────────┘
 *   any non-terminal phase ──abort──▶ aborted; a rollout paused while baking resumes baking
 *
 * Per tick: `nextWindow` says which interval to collect, the provider fills an AnalysisInput for it,
 * and `tick` folds it into the metrics' statistics and applies the rule in decide.ts.
 */
import { analysedSteps, foldMetrics, judge, resetStep, WARMUP_KINDS } from '../analysis/evaluate.ts';
import { validateInput, type AnalysisInput, type AnalysisWindow, type ArmWindow } from '../analysis/input.ts';
import { startBake } from '../analysis/metrics/bake.ts';
import { ControllerErrors } from '../errors.ts';
import { decide } from './decide.ts';
import type { Decision, Evidence, ManualOperation, WindowSummary } from './decision.ts';
import type { ResolvedMetric } from './spec.ts';
import { isTerminal, routingOf, type RolloutState } from './state.ts';

/** Result of a transition. */
export interface Transition {
  readonly state: RolloutState;
  readonly decision: Decision;
}

/** The window the next tick should analyse, or null when there is none (pending, finished, or empty). */
export function nextWindow(state: RolloutState, now: number): AnalysisWindow | null {
  if (state.phase === 'pending' || isTerminal(state) || state.windowEnd === null) return null;
  const to = Math.floor(now - state.spec.tick.lagS * 1000);
  return to > state.windowEnd ? { from: state.windowEnd, to } : null;
}

/**
 * True when a window overlaps the current step's warm-up (by time, then by canary requests). A
 * window that straddles the warm-up's end is left out whole (with the default 10 s tick, 5 s lag
 * and 45 s warm-up, windows end exactly at the warm-up's end).
 */
function inWarmup(state: RolloutState, window: AnalysisWindow): boolean {
  const wu = state.warmupUntil ?? null;
  if (wu === null) return false;
  if (window.from < wu) return true;
  const step = state.spec.steps[Math.max(0, state.stepIndex)]!;
  return (state.stepCounts.warmupCanary ?? 0) < step.warmup.requests;
}

function summarize(arm: ArmWindow): WindowSummary {
  return { requests: arm.requests, errors: arm.errors, latencySampled: arm.latencySample.length };
}

function buildEvidence(state: RolloutState, now: number, actor: string, manual: ManualOperation | null, input: AnalysisInput | null): Evidence {
  const step = state.spec.steps[Math.max(0, state.stepIndex)]!;
  const elapsedS = state.stepStartedAt === null ? 0 : (now - state.stepStartedAt) / 1000;
  return {
    v: 1, rolloutId: state.spec.id, at: now, actor, manual, phase: state.phase,
    steps: state.spec.steps.map((s) => s.weight), stepIndex: state.stepIndex, weight: state.weight,
    window: input ? { ...input.window } : null,
    input: input ? { stable: summarize(input.stable), canary: summarize(input.canary) } : null,
    step: {
      startedAt: state.stepStartedAt, elapsedS, canaryRequests: state.stepCounts.canary, stableRequests: state.stepCounts.stable,
      minDurationS: step.minDurationS, minSamples: step.minSamples, maxDurationS: step.maxDurationS,
      observedS: state.stepCounts.observedS ?? elapsedS, warmupUntil: state.warmupUntil ?? null,
      warmupWindow: input !== null && state.lastWindowWarmup === true,
    },
    ...(state.spec.bake ? {
      bake: {
        seconds: state.spec.bake.seconds, startedAt: state.bakeStartedAt ?? null,
        // The bake clock stands still while the rollout is paused.
        elapsedS: state.bakeStartedAt == null ? 0 : ((state.phase === 'paused' ? state.pausedAt ?? now : now) - state.bakeStartedAt) / 1000,
      },
    } : {}),
    policy: { alpha: state.spec.alpha, power: state.spec.power, onFailure: state.spec.onFailure, onTimeout: state.spec.onTimeout },
    metrics: state.metrics,
    verdicts: state.metrics.map((m) => ({ name: m.config.name, critical: m.config.critical, ...judge(m) })),
  };
}

/** Applies the rule's outcome to the state and builds the decision. */
function apply(state: RolloutState, evidence: Evidence, now: number): Transition {
  const out = decide(evidence);
  // The bake starts: the 100% step's warm-up applies and the watched metrics fix stable's baseline.
  const bakes = out.action === 'complete' && out.phase === 'baking';
  const stepChanges = out.action === 'promote' || out.action === 'start' || out.action === 'resume' || bakes;
  // `complete` reaches the last step (always 100%), baking or promoted, so step and weight agree.
  const stepIndex = out.action === 'start' ? 0 : out.action === 'promote' ? state.stepIndex + 1 : out.action === 'complete' ? state.spec.steps.length - 1 : state.stepIndex;
  const canaryState = out.action === 'rollback' || out.action === 'abort' ? 'tripped' : state.canaryState;
  const resumesBake = state.phase === 'paused' && out.phase === 'baking' && state.bakeStartedAt != null && state.pausedAt != null;
  const next: RolloutState = {
    ...state,
    phase: out.phase, stepIndex, weight: out.toWeight, canaryState, seq: state.seq + 1,
    startedAt: out.action === 'start' ? now : state.startedAt,
    stepStartedAt: stepChanges ? now : state.stepStartedAt,
    windowEnd: out.action === 'start' ? now : evidence.window?.to ?? state.windowEnd,
    finishedAt: out.phase === 'promoted' || out.phase === 'rolled_back' || out.phase === 'aborted' ? now : state.finishedAt,
    stepCounts: stepChanges ? { canary: 0, stable: 0, observedS: 0, warmupCanary: 0 } : state.stepCounts,
    warmupUntil: out.action === 'start' || out.action === 'promote' || bakes ? now + (state.spec.steps[stepIndex]?.warmup.seconds ?? 0) * 1000 : state.warmupUntil ?? null,
    lastWindowWarmup: false,
    // Resumed into the bake: its start moves by the time spent paused, so a pause does not eat the bake.
    bakeStartedAt: bakes ? now : resumesBake ? state.bakeStartedAt! + (now - state.pausedAt!) : state.bakeStartedAt ?? null,
    pausedAt: out.phase === 'paused' ? (state.phase === 'paused' ? state.pausedAt ?? now : now) : null,
    metrics: bakes ? startBake(state.metrics) : stepChanges
      ? resetStep(state.metrics, out.action === 'resume' ? null : { index: stepIndex, analysed: analysedSteps(state.spec) })
      : state.metrics,
  };
  const decision: Decision = {
    rolloutId: state.spec.id, model: state.spec.model, seq: next.seq, at: now, actor: evidence.actor,
    action: out.action, phase: out.phase, fromWeight: state.weight, toWeight: out.toWeight,
    routing: routingOf(state.spec, out.toWeight, canaryState), reason: out.reason, etaSeconds: out.etaSeconds, evidence,
  };
  return { state: next, decision };
}

/**
 * One controller tick. A pending rollout starts (input is ignored). Otherwise `input` must cover
 * exactly `nextWindow(state, now)`, or be null: when no window is due, or when the provider could
 * not collect it (the next window then covers the gap). With null the time-based rules still run.
 * @throws MLG_CTL_BAD_TRANSITION on a finished rollout; MLG_CTL_INPUT_INVALID on a bad input.
 */
export function tick(state: RolloutState, input: AnalysisInput | null, now: number): Transition {
  if (isTerminal(state)) throw ControllerErrors.badTransition(`rollout ${state.spec.id} is ${state.phase}; nothing to tick`);
  if (state.phase === 'pending') return manual(state, 'start', now, 'controller');
  const expected = nextWindow(state, now);
  if (input !== null) {
    if (expected === null) throw ControllerErrors.inputInvalid(`no window is due at ${now}; pass null`);
    validateInput(input, expected, state.spec.id);
  }
  let folded = state;
  if (input !== null) {
    const windowS = (input.window.to - input.window.from) / 1000;
    const ctx = {
      stepElapsedS: Math.max(0, (input.window.to - (state.stepStartedAt ?? input.window.from)) / 1000),
      windowS, blockS: state.spec.analysis.dispersionBlockS,
      finalStep: state.stepIndex === analysedSteps(state.spec) - 1,
      // Once the bake started (also while paused in it), the watched metrics test against the baseline.
      bake: state.bakeStartedAt != null,
    };
    const step = state.spec.steps[Math.max(0, state.stepIndex)]!;
    const warm = inWarmup(state, input.window);
    const skip = warm ? (m: ResolvedMetric) => step.warmup.metrics === 'all' || WARMUP_KINDS.has(m.kind) : undefined;
    const c = state.stepCounts;
    folded = {
      ...state,
      metrics: foldMetrics(state.metrics, input, ctx, skip),
      stepCounts: {
        canary: c.canary + input.canary.requests, stable: c.stable + input.stable.requests,
        // Time counts toward minDurationS only when judged and the canary had traffic.
        observedS: (c.observedS ?? 0) + (!warm && input.canary.requests > 0 ? windowS : 0),
        warmupCanary: (c.warmupCanary ?? 0) + (warm ? input.canary.requests : 0),
      },
      lastWindowWarmup: warm,
    };
  }
  return apply(folded, buildEvidence(folded, now, 'controller', null, input), now);
}

const ALLOWED: Readonly<Record<ManualOperation, readonly string[]>> = {
  start: ['pending'],
  pause: ['progressing', 'baking'],
  resume: ['paused'],
  promote: ['progressing', 'paused', 'baking'],
  abort: ['pending', 'progressing', 'paused', 'baking'],
};

/**
 * A manual operation (pause, resume, promote now, abort; start) as a pure transition. While baking,
 * promote ends the bake (promoted) and abort returns the traffic to the previous stable.
 * @throws MLG_CTL_BAD_TRANSITION when the phase does not allow it.
 */
export function manual(state: RolloutState, operation: ManualOperation, now: number, actor: string): Transition {
  if (!ALLOWED[operation]?.includes(state.phase)) {
    throw ControllerErrors.badTransition(`cannot ${operation} rollout ${state.spec.id} while it is ${state.phase}`, { details: { phase: state.phase, operation } });
  }
  if (!actor) throw ControllerErrors.badTransition('a manual operation needs an actor');
  return apply(state, buildEvidence(state, now, actor, operation, null), now);
}
