/**
 * The canary controller's error catalogue (`MLG_CTL_*`). Codes are stable: add new ones, never
 * reuse one for another meaning.
 */
import { defineError } from '../core/errors.ts';

/** Errors raised by the rollout spec, the state machine, the analysis, the simulator and the controller service. */
export const ControllerErrors = {
  specInvalid: defineError('MLG_CTL_SPEC_INVALID', 400, 'A rollout spec failed validation'),
  scenarioInvalid: defineError('MLG_CTL_SCENARIO_INVALID', 400, 'A simulation scenario failed validation or could not be read'),
  inputInvalid: defineError('MLG_CTL_INPUT_INVALID', 400, 'An analysis input is malformed or does not cover the expected window'),
  badTransition: defineError('MLG_CTL_BAD_TRANSITION', 409, 'The rollout operation is not allowed in the current phase'),
  evidenceInvalid: defineError('MLG_CTL_EVIDENCE_INVALID', 400, 'Stored decision evidence is malformed and cannot be recomputed'),
  // The controller service (API, store, leadership, providers).
  unauthorized: defineError('MLG_CTL_UNAUTHORIZED', 401, 'The controller API needs a valid bearer token'),
  forbidden: defineError('MLG_CTL_FORBIDDEN', 403, 'The token\'s role does not allow this controller operation'),
  notFound: defineError('MLG_CTL_NOT_FOUND', 404, 'No rollout (or route) with that id'),
  conflict: defineError('MLG_CTL_CONFLICT', 409, 'The rollout id is taken, or the model already has an active rollout'),
  badRequest: defineError('MLG_CTL_BAD_REQUEST', 400, 'A controller API request body or parameter is malformed'),
  notLeader: defineError('MLG_CTL_NOT_LEADER', 503, 'This controller is a standby; changes go to the leader'),
  badOptions: defineError('MLG_CTL_BAD_OPTIONS', 500, 'A controller component was constructed with an invalid option'),
  storeFailed: defineError('MLG_CTL_STORE_FAILED', 503, 'A rollout state could not be read from or saved to ClickHouse'),
  deliveryPending: defineError('MLG_CTL_DELIVERY_PENDING', 503, 'The previous decision of the rollout is not recorded or published yet; retry later'),
  collectFailed: defineError('MLG_CTL_COLLECT_FAILED', 503, 'The metrics provider could not collect an analysis window'),
  customSqlInvalid: defineError('MLG_CTL_CUSTOM_SQL_INVALID', 400, 'A custom_sql metric is not a single SELECT returning one number'),
  internal: defineError('MLG_CTL_INTERNAL', 500, 'The controller failed unexpectedly (see the service log)'),
} as const;
