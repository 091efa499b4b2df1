/**
 * The consumer id a token's subject is stored under. Configured consumers (API keys, or a
 * subject naming a configured consumer) keep their configured id; any other subject (often an
 * email) becomes `sub:` + the first 16 hex digits of its keyed hash (the telemetry HMAC, so it
 * cannot be reversed by hashing guesses without the key), or stays as it is with
 * `telemetry.consumerIds: raw`. The same subject always gets the same id, so rate limits and
 * sticky routing keep working. Configured ids cannot contain `:`, so a hashed id never collides
 * with one.
 */
import type { Hasher } from '../../telemetry/hash.ts';
import type { ConsumerIdMode } from '../../telemetry/config.ts';

/** Prefix of a hashed subject. */
export const HASHED_SUBJECT_PREFIX = 'sub:';
/** The consumer label of metrics for a consumer that is not configured. */
export const OTHER_CONSUMER = 'other';

/** Maps token subjects to stored consumer ids. */
export class SubjectIds {
  constructor(
    private readonly mode: ConsumerIdMode,
    private readonly hasher: Hasher,
    private readonly isConfigured: (id: string) => boolean,
  ) {}

  /** The id a token's subject is stored under. */
  of(subject: string): string {
    if (this.mode === 'raw' || this.isConfigured(subject)) return subject;
    return HASHED_SUBJECT_PREFIX + this.hasher.hashPayload(subject, 'text/plain').slice(0, 16);
  }

  /** A metric label for a consumer id: configured ids as they are, anything else `other`. */
  label(id: string): string {
    return this.isConfigured(id) ? id : OTHER_CONSUMER;
  }
}
