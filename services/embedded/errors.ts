/**
 * Error catalogue of the embedded mode (`mlgate start`) and the demo (`mlgate demo`).
 */
import { defineError } from '../core/errors.ts';

/** Embedded-mode and demo errors. */
export const EmbeddedErrors = {
  startFailed: defineError('MLG_EMB_START_FAILED'),
  routingStoreUnreadable: defineError('MLG_EMB_ROUTING_STORE_UNREADABLE'),
  routingStoreWriteFailed: defineError('MLG_EMB_ROUTING_STORE_WRITE_FAILED'),
  modelPackageMissing: defineError('MLG_EMB_MODEL_PACKAGE_MISSING'),
  demoFailed: defineError('MLG_EMB_DEMO_FAILED'),
} as const;
