/**
 * Error catalogue of the embedded mode (`mlgate start`) and the demo (`mlgate demo`).
 */
import { defineError } from '../core/errors.ts';

/** Embedded-mode and demo errors. */
export const EmbeddedErrors = {
  startFailed: defineError('MLG_EMB_START_FAILED', 500, 'A component of the embedded process could not start (the cause names which)'),
  routingStoreUnreadable: defineError('MLG_EMB_ROUTING_STORE_UNREADABLE', 500, 'The saved routing states file could not be read or parsed'),
  routingStoreWriteFailed: defineError('MLG_EMB_ROUTING_STORE_WRITE_FAILED', 500, 'A routing state could not be saved to the routing states file'),
  demoFailed: defineError('MLG_EMB_DEMO_FAILED', 500, 'The demo scenario did not reach its expected outcome in time'),
} as const;
