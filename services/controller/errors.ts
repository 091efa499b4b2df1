/**
 * The canary controller's error catalogue (`MLG_CTL_*`). Codes are stable: add new ones, never
 * reuse one for another meaning.
 */
import { defineError } from '../core/errors.ts';

/** Errors raised by the rollout spec, the state machine, the analysis and the simulator. */
export const ControllerErrors = {
  specInvalid: defineError('MLG_CTL_SPEC_INVALID', 400, 'A rollout spec failed validation'),
  scenarioInvalid: defineError('MLG_CTL_SCENARIO_INVALID', 400, 'A simulation scenario failed validation or could not be read'),
  inputInvalid: defineError('MLG_CTL_INPUT_INVALID', 400, 'An analysis input is malformed or does not cover the expected window'),
  badTransition: defineError('MLG_CTL_BAD_TRANSITION', 409, 'The rollout operation is not allowed in the current phase'),
  evidenceInvalid: defineError('MLG_CTL_EVIDENCE_INVALID', 400, 'Stored decision evidence is malformed and cannot be recomputed'),
} as const;
