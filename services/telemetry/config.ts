/**
 * The `telemetry` config section: hashing, redaction and the sink. Defaults live here.
 */
import { z } from 'zod';

/** Schema of the `telemetry` section. */
export const TelemetrySection = z.strictObject({
  /** Kafka topic for events. */
  topic: z.string().min(1).default('mlgate.telemetry.v1'),
  hashing: z.strictObject({
    /** HMAC key; at least 16 characters. Set it with MLGATE_HASH_KEY in production. */
    key: z.string().min(16, 'the hash key must be at least 16 characters'),
    /** Key id stored with each hash (rotate by changing key and id together). */
    keyId: z.string().min(1).max(100).default('k1'),
  }),
  redaction: z.strictObject({
    /** Maximum characters of redacted input kept in the event. */
    maxChars: z.number().int().min(0).max(65536).default(2048),
    /** JSON paths always masked (dot form, `*` wildcard). */
    maskPaths: z.array(z.string().min(1)).default([]),
  }).default({ maxChars: 2048, maskPaths: [] }),
});

/** Parsed `telemetry` section. */
export type TelemetryConfig = z.output<typeof TelemetrySection>;
