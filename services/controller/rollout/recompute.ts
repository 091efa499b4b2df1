/**
 * Re-derives a decision from its stored evidence alone (for audits: "a decision to roll back is
 * reproducible from what ClickHouse holds"). It re-judges every metric from its sufficient
 * statistics and re-applies the same rule the state machine used; the verdicts stored alongside
 * are ignored.
 */
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
