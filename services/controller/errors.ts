/**
 * The canary controller's error catalogue (`MLG_CTL_*`). Codes are stable: add new ones, never
 * reuse one for another meaning.
 */
import { defineError } from '../core/errors.ts';

/** Errors raised by the rollout spec, the state machine, the analysis, the simulator and the controller service. */
export const ControllerErrors = {
  specInvalid: defineError('MLG_CTL_SPEC_INVALID'),
  scenarioInvalid: defineError('MLG_CTL_SCENARIO_INVALID'),
  inputInvalid: defineError('MLG_CTL_INPUT_INVALID'),
  badTransition: defineError('MLG_CTL_BAD_TRANSITION'),
  evidenceInvalid: defineError('MLG_CTL_EVIDENCE_INVALID'),
  // The controller service (API, store, leadership, providers).
  unauthorized: defineError('MLG_CTL_UNAUTHORIZED'),
  forbidden: defineError('MLG_CTL_FORBIDDEN'),
  notFound: defineError('MLG_CTL_NOT_FOUND'),
  conflict: defineError('MLG_CTL_CONFLICT'),
  badRequest: defineError('MLG_CTL_BAD_REQUEST'),
  notLeader: defineError('MLG_CTL_NOT_LEADER'),
  badOptions: defineError('MLG_CTL_BAD_OPTIONS'),
  storeFailed: defineError('MLG_CTL_STORE_FAILED'),
  deliveryPending: defineError('MLG_CTL_DELIVERY_PENDING'),
  collectFailed: defineError('MLG_CTL_COLLECT_FAILED'),
  customSqlInvalid: defineError('MLG_CTL_CUSTOM_SQL_INVALID'),
  internal: defineError('MLG_CTL_INTERNAL'),
} as const;
