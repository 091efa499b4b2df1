/**
 * Error catalogue of the control plane contracts (routing state, control channel, admin changes).
 */
import { defineError } from '../core/errors.ts';

/** Control-plane errors. */
export const ControlErrors = {
  stateInvalid: defineError('MLG_CONTROL_STATE_INVALID', 400, 'A routing state failed validation (shape, weights, fallback)'),
  channelClosed: defineError('MLG_CONTROL_CHANNEL_CLOSED', 503, 'The control channel is closed'),
} as const;
