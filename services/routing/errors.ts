/**
 * Error catalogue of the routing package: the states gateways follow and the control channel they
 * travel on. The codes keep the `MLG_CONTROL_` prefix of the package's former name (`control/`):
 * codes are an external contract, so the rename did not change them (docs/architecture.md).
 */
import { defineError } from '../core/errors.ts';

/** Control-plane errors. */
export const ControlErrors = {
  stateInvalid: defineError('MLG_CONTROL_STATE_INVALID'),
  channelClosed: defineError('MLG_CONTROL_CHANNEL_CLOSED'),
} as const;
