/**
 * The decision rule: a pure function of the evidence. The state machine calls it on every tick
 * and `recompute` calls it on stored evidence, so the two can never disagree.
 */
import { judge } from '../analysis/evaluate.ts';
import type { MetricVerdict } from '../analysis/metrics/types.ts';
import { ControllerErrors } from '../errors.ts';
import type { DecisionAction, Evidence, Phase } from './decision.ts';

/** The outcome of the rule. */
export interface RuleOutcome {
  readonly action: DecisionAction;
  readonly toWeight: number;
  readonly phase: Phase;
  readonly reason: string;
  readonly etaSeconds: number | null;
}

function nextStep(ev: Evidence): { action: 'promote' | 'complete'; toWeight: number; phase: Phase } {
  const next = ev.steps[ev.stepIndex + 1];
  if (next === undefined || next >= 100) return { action: 'complete', toWeight: 100, phase: 'promoted' };
  return { action: 'promote', toWeight: next, phase: 'progressing' };
}

function manualOutcome(ev: Evidence): RuleOutcome {
  const by = `by ${ev.actor}`;
  switch (ev.manual) {
    case 'start': return { action: 'start', toWeight: ev.steps[0]!, phase: 'progressing', reason: `rollout started ${by}`, etaSeconds: null };
    case 'pause': return { action: 'pause', toWeight: ev.weight, phase: 'paused', reason: `paused ${by}`, etaSeconds: null };
    case 'resume': return { action: 'resume', toWeight: ev.weight, phase: 'progressing', reason: `resumed ${by}`, etaSeconds: null };
    case 'abort': return { action: 'abort', toWeight: 0, phase: 'aborted', reason: `aborted ${by}`, etaSeconds: null };
    case 'promote': {
      const n = nextStep(ev);
      return { ...n, reason: `promoted ${by} without waiting for the analysis`, etaSeconds: null };
    }
    default: throw ControllerErrors.evidenceInvalid(`unknown manual operation ${String(ev.manual)}`);
  }
}

function eta(ev: Evidence, verdicts: readonly MetricVerdict[]): number | null {
  const s = ev.step;
  const candidates: number[] = [Math.max(0, s.maxDurationS - s.elapsedS)];
  const reject = ev.metrics.map((m) => m.etaRejectS).filter((x): x is number => x !== null);
  if (reject.length) candidates.push(Math.min(...reject));
  const waits: (number | null)[] = [Math.max(0, s.minDurationS - (s.observedS ?? s.elapsedS))];
  if (s.canaryRequests < s.minSamples) {
    const perS = s.elapsedS > 0 ? s.canaryRequests / s.elapsedS : 0;
    waits.push(perS > 0 ? (s.minSamples - s.canaryRequests) / perS : null);
  }
  ev.metrics.forEach((m, i) => {
    if (m.config.critical && verdicts[i]!.status !== 'accepted') waits.push(m.etaAcceptS);
  });
  if (waits.every((w) => w !== null)) candidates.push(Math.max(...(waits as number[])));
  return Math.round(Math.min(...candidates));
}

/** Applies the rule to evidence. */
export function decide(ev: Evidence): RuleOutcome {
  if (ev.manual !== null) return manualOutcome(ev);
  if (ev.phase !== 'progressing' && ev.phase !== 'paused') {
    throw ControllerErrors.evidenceInvalid(`an analysis decision needs phase progressing or paused, not ${ev.phase}`);
  }
  const verdicts = ev.metrics.map(judge);
  const names = (pick: (v: MetricVerdict, critical: boolean) => boolean) =>
    ev.metrics.filter((m, i) => pick(verdicts[i]!, m.config.critical)).map((m) => m.config.name);
  const hold = { toWeight: ev.weight, etaSeconds: null };
  const criticalRegressed = names((v, c) => c && v.status === 'regressed');
  if (criticalRegressed.length) {
    const why = `significant regression beyond tolerance: ${criticalRegressed.join(', ')}`;
    if (ev.policy.onFailure === 'rollback') return { action: 'rollback', toWeight: 0, phase: 'rolled_back', reason: why, etaSeconds: null };
    if (ev.phase !== 'paused') return { ...hold, action: 'pause', phase: 'paused', reason: why };
  }
  const otherRegressed = names((v, c) => !c && v.status === 'regressed');
  if (otherRegressed.length && ev.phase !== 'paused') {
    return { ...hold, action: 'pause', phase: 'paused', reason: `significant regression on non-critical metrics: ${otherRegressed.join(', ')}` };
  }
  if (ev.phase === 'paused') return { ...hold, action: 'wait', phase: 'paused', reason: 'paused: waiting for an operator' };
  const s = ev.step;
  const pending = names((v, c) => c && v.status !== 'accepted');
  // Observed time (judged windows with canary traffic), not wall-clock: after a telemetry gap or a
  // warm-up the step still needs minDurationS of real data. Older evidence has elapsedS only.
  const observedS = s.observedS ?? s.elapsedS;
  const timeOk = observedS >= s.minDurationS;
  const samplesOk = s.canaryRequests >= s.minSamples;
  if (timeOk && samplesOk && pending.length === 0) {
    const n = nextStep(ev);
    return { ...n, reason: `step ${ev.weight}% passed: minimum time and samples met, and every critical metric rules out a regression of its detect x tolerance (power ${ev.policy.power})`, etaSeconds: null };
  }
  if (s.elapsedS >= s.maxDurationS) {
    const why = `no decision after ${s.maxDurationS}s at ${ev.weight}% (waiting on ${[...pending, ...(samplesOk ? [] : ['minSamples'])].join(', ') || 'nothing'})`;
    if (ev.policy.onTimeout === 'rollback') return { action: 'rollback', toWeight: 0, phase: 'rolled_back', reason: why, etaSeconds: null };
    return { ...hold, action: 'pause', phase: 'paused', reason: why };
  }
  const waitingOn = [...(timeOk ? [] : ['minDuration']), ...(samplesOk ? [] : ['minSamples']), ...pending];
  return { ...hold, action: 'wait', phase: 'progressing', reason: `waiting on ${waitingOn.join(', ')}`, etaSeconds: eta(ev, verdicts) };
}
