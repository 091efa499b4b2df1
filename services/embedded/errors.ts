/**
 * Error catalogue of the embedded mode (`mlgate start`) and the demo (`mlgate demo`).
 */
import { defineError } from '../core/errors.ts';

/** Embedded-mode and demo errors. */
export const EmbeddedErrors = {
  startFailed: defineError('MLG_EMB_START_FAILED', 500, 'A component of the embedded process could not start (the cause names which)'),
  routingStoreUnreadable: defineError('MLG_EMB_ROUTING_STORE_UNREADABLE', 500, 'The saved routing states file could not be read or parsed'),
  routingStoreWriteFailed: defineError('MLG_EMB_ROUTING_STORE_WRITE_FAILED', 500, 'A routing state could not be saved to the routing states file'),
  modelPackageMissing: defineError('MLG_EMB_MODEL_PACKAGE_MISSING', 500, 'A stand-in model server needs an optional package (sentiment, vader-sentiment) that is not installed'),
  demoFailed: defineError('MLG_EMB_DEMO_FAILED', 500, 'The demo scenario did not reach its expected outcome in time'),
} as const;
