/** How a relayed response ended, and the outcome an upstream status gives (relay.ts, relay-translated.ts, shadow.ts). */
import type { Outcome } from '../../telemetry/event.ts';

/** How a relayed response ended. */
export interface RelayEnd {
  outcome: Outcome;
  /** MLG code or undici code when it did not end well. */
  errorClass: string;
}

/** Outcome of a response the upstream answered with `status`. */
export function outcomeForStatus(status: number): Outcome {
  if (status < 400) return 'ok';
  if (status >= 500) return 'upstream_error';
  switch (status) {
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 413: return 'payload_too_large';
    case 422: return 'schema_invalid';
    case 429: return 'upstream_rate_limited'; // the gateway's own limit is `rate_limited`
    default: return 'bad_request';
  }
}

const SSE = /^\s*text\/event-stream/i;

/** True for a `text/event-stream` content type (an SSE answer). */
export function isEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && SSE.test(contentType);
}
