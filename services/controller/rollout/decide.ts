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

/** Seconds of bake the evidence's rollout has (0 in evidence from before the bake existed). */
function bakeSeconds(ev: Evidence): number {
  return ev.bake?.seconds ?? 0;
}

function nextStep(ev: Evidence): { action: 'promote' | 'complete'; toWeight: number; phase: Phase } {
  const next = ev.steps[ev.stepIndex + 1];
  if (next === undefined || next >= 100) return { action: 'complete', toWeight: 100, phase: bakeSeconds(ev) > 0 ? 'baking' : 'promoted' };
  return { action: 'promote', toWeight: next, phase: 'progressing' };
}

/** The outcome of a manual promote: the next step, or the end of the bake when baking. */
function manualPromote(ev: Evidence, by: string): RuleOutcome {
  if (ev.phase === 'baking' || (ev.phase === 'paused' && ev.bake?.startedAt != null)) {
    return { action: 'finish', toWeight: 100, phase: 'promoted', reason: `bake ended ${by} without waiting for it: promoted`, etaSeconds: null };
  }
  const n = nextStep(ev);
  const then = n.phase === 'baking' ? ` (baking for ${bakeSeconds(ev)}s)` : '';
  return { ...n, reason: `promoted ${by} without waiting for the analysis${then}`, etaSeconds: null };
}

function manualOutcome(ev: Evidence): RuleOutcome {
  const by = `by ${ev.actor}`;
  switch (ev.manual) {
    case 'start': return { action: 'start', toWeight: ev.steps[0]!, phase: 'progressing', reason: `rollout started ${by}`, etaSeconds: null };
    case 'pause': return { action: 'pause', toWeight: ev.weight, phase: 'paused', reason: `paused ${by}`, etaSeconds: null };
    case 'resume': {
      // A rollout paused during its bake goes back to baking (its bake clock stood still while paused).
      const phase = ev.bake?.startedAt != null ? 'baking' : 'progressing';
      return { action: 'resume', toWeight: ev.weight, phase, reason: `resumed ${by}${phase === 'baking' ? ' (baking)' : ''}`, etaSeconds: null };
    }
    case 'abort': return { action: 'abort', toWeight: 0, phase: 'aborted', reason: `aborted ${by}`, etaSeconds: null };
    case 'promote': return manualPromote(ev, by);
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
  if (ev.phase !== 'progressing' && ev.phase !== 'paused' && ev.phase !== 'baking') {
    throw ControllerErrors.evidenceInvalid(`an analysis decision needs phase progressing, paused or baking, not ${ev.phase}`);
  }
  const verdicts = ev.metrics.map(judge);
  const names = (pick: (v: MetricVerdict, critical: boolean) => boolean) =>
    ev.metrics.filter((m, i) => pick(verdicts[i]!, m.config.critical)).map((m) => m.config.name);
  const hold = { toWeight: ev.weight, etaSeconds: null };
  const criticalRegressed = names((v, c) => c && v.status === 'regressed');
  const baking = ev.phase === 'baking';
  const during = baking ? ' during the bake (against stable\'s baseline)' : '';
  if (criticalRegressed.length) {
    const why = `significant regression beyond tolerance${during}: ${criticalRegressed.join(', ')}`;
    if (ev.policy.onFailure === 'rollback') return { action: 'rollback', toWeight: 0, phase: 'rolled_back', reason: why, etaSeconds: null };
    if (ev.phase !== 'paused') return { ...hold, action: 'pause', phase: 'paused', reason: why };
  }
  const otherRegressed = names((v, c) => !c && v.status === 'regressed');
  if (otherRegressed.length && ev.phase !== 'paused') {
    return { ...hold, action: 'pause', phase: 'paused', reason: `significant regression on non-critical metrics${during}: ${otherRegressed.join(', ')}` };
  }
  if (ev.phase === 'paused') return { ...hold, action: 'wait', phase: 'paused', reason: 'paused: waiting for an operator' };
  if (baking) {
    const b = ev.bake;
    if (!b || b.startedAt === null) throw ControllerErrors.evidenceInvalid('a baking decision needs bake.startedAt in the evidence');
    if (b.elapsedS >= b.seconds) {
      return { action: 'finish', toWeight: 100, phase: 'promoted', reason: `bake passed: no significant regression in ${b.seconds}s at 100%; promoted`, etaSeconds: null };
    }
    const left = b.seconds - b.elapsedS;
    return { ...hold, action: 'wait', phase: 'baking', reason: `baking at 100%: ${Math.round(left)}s of ${b.seconds}s left`, etaSeconds: Math.round(left) };
  }
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
    // Each pending metric with the time its acceptance would still need at this traffic (its ETA),
    // so the operator can tell a slow step (raise maxDurationS or the weight) from a stuck one.
    const pendingWithEta = ev.metrics.flatMap((m, i) => {
      if (!m.config.critical || verdicts[i]!.status === 'accepted') return [];
      const etaS = m.etaAcceptS;
      return [etaS !== null && Number.isFinite(etaS) ? `${m.config.name}: about ${Math.round(etaS)}s more at this traffic` : m.config.name];
    });
    const why = `no decision after ${s.maxDurationS}s at ${ev.weight}% (waiting on ${[...pendingWithEta, ...(samplesOk ? [] : ['minSamples'])].join(', ') || 'nothing'})`;
    if (ev.policy.onTimeout === 'rollback') return { action: 'rollback', toWeight: 0, phase: 'rolled_back', reason: why, etaSeconds: null };
    return { ...hold, action: 'pause', phase: 'paused', reason: why };
  }
  const waitingOn = [...(timeOk ? [] : ['minDuration']), ...(samplesOk ? [] : ['minSamples']), ...pending];
  return { ...hold, action: 'wait', phase: 'progressing', reason: `waiting on ${waitingOn.join(', ')}`, etaSeconds: eta(ev, verdicts) };
}
