/**
 * Re-derives a decision from its stored evidence alone (for audits: "a decision to roll back is
 * reproducible from what ClickHouse holds"). It re-judges every metric from its sufficient
 * statistics and re-applies the same rule the state machine used; the verdicts stored alongside
 * are ignored.
 */
import { addBatch, batchLogLR } from '../analysis/stats/binomial-mixture.ts';
import { ControllerErrors } from '../errors.ts';
import { decide, type RuleOutcome } from './decide.ts';
import type { Evidence } from './decision.ts';

/**
 * The action (and resulting weight, phase, reason, ETA) the evidence implies.
 * @throws MLG_CTL_EVIDENCE_INVALID when the evidence is malformed.
 */
export function recompute(evidence: Evidence): RuleOutcome {
  if (typeof evidence !== 'object' || evidence === null || evidence.v !== 1) {
    throw ControllerErrors.evidenceInvalid('evidence must be an object with v = 1');
  }
  if (!Array.isArray(evidence.metrics) || !Array.isArray(evidence.steps) || typeof evidence.step !== 'object' || evidence.step === null) {
    throw ControllerErrors.evidenceInvalid('evidence needs metrics, steps and step');
  }
  try {
    return decide(evidence);
  } catch (err) {
    if (ControllerErrors.evidenceInvalid.is(err)) throw err;
    throw ControllerErrors.evidenceInvalid(`evidence could not be evaluated: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Checks that each metric's whole-rollout statistics in `next` are those of `prev` (the decision
 * before it) plus the window `next` recorded in the metric's `last` field (for a rate with ruleOut,
 * also its rollout-long ruleOut log LR). Together with
 * `recompute`, this ties a decision to the chain of windows before it; the windows' counts can be
 * checked against ClickHouse (latency and score samples are random draws, recorded as counts).
 * Binomial- and normal-tested metrics are checked; distribution metrics record totals only.
 * @returns the names of the metrics that do not chain (empty when all do).
 */
export function chainBreaks(prev: Evidence, next: Evidence): string[] {
  const broken: string[] = [];
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  next.metrics.forEach((m, i) => {
    const p = prev.metrics[i];
    if (!p || p.test !== m.test || p.config.name !== m.config.name) {
      broken.push(m.config.name);
      return;
    }
    // A decision without a window (manual, or nothing collected) adds nothing.
    const last = next.window === null ? {} : m.last ?? {};
    if (m.test === 'binomial' && p.test === 'binomial') {
      const k = last.k ?? 0;
      const mm = last.m ?? 0;
      const w = last.wTilde;
      // f: the window's over-dispersion scale (absent in older evidence: 1).
      const f = last.f ?? 1;
      const expected = mm > 0 && w !== null && w !== undefined ? addBatch(p.rollout.logLik, m.prior, f * k, f * mm, w) : p.rollout.logLik;
      let ok = m.rollout.k === p.rollout.k + k && m.rollout.m === p.rollout.m + mm && expected.every((x, j) => near(x, m.rollout.logLik[j]!));
      // The rollout-long ruleOut test (absent in older evidence): the window's θ_R adds its log LR.
      if (m.ruleOut && p.ruleOut) {
        const thetaR = last.thetaR;
        const add = mm > 0 && w !== null && w !== undefined && typeof thetaR === 'number' ? batchLogLR(thetaR, f * k, f * mm, w) : 0;
        ok &&= near(m.ruleOut.llr, p.ruleOut.llr + add);
      }
      if (!ok) broken.push(m.config.name);
    } else if (m.test === 'normal' && p.test === 'normal') {
      if (!near(m.rollout.s, p.rollout.s + (last.ds ?? 0)) || !near(m.rollout.v, p.rollout.v + (last.dv ?? 0))) broken.push(m.config.name);
    }
  });
  return broken;
}
