/**
 * Seams for the edge work (API-key consumers, per-model permissions, rate limits, who may pin).
 * The gateway calls them on every request; each may return synchronously (the fast path) or a
 * promise. Throw or return an MlgateError to refuse: its status goes to the client and its code
 * decides the event's outcome (401 unauthorized, 403 forbidden, 429 rate_limited, ...).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { MlgateError } from '../../core/errors.ts';

/** What a hook may read of a request. Never log `headers` (they carry keys). */
export interface RequestInfo {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Client address. */
  readonly ip: string;
}

/** A resolved consumer. `id` goes into events and sticky routing; never put a key here. */
export interface Consumer {
  readonly id: string;
}

/** Result of a hook: nothing, or a refusal. */
export type Refusal = MlgateError | undefined;

/** Hooks the edge work fills. All optional; the defaults let every request through as consumer ''. */
export interface GatewayHooks {
  /** Identifies the caller (e.g. by API key). Return an MlgateError (401) to refuse. */
  resolveConsumer?(req: RequestInfo): Consumer | MlgateError | Promise<Consumer | MlgateError>;
  /** May this consumer call this model? Rate limits go here too (429). Runs once the model is known. */
  authorize?(consumer: Consumer, model: string, req: RequestInfo): Refusal | Promise<Refusal>;
  /** May this consumer call `model` (permissions only, no rate limit)? Lists `GET /v1/models`. Default: yes. */
  mayCall?(consumer: Consumer, model: string): boolean;
  /** May this consumer pin `version` with x-mlgate-version? Default: yes. */
  allowPin?(consumer: Consumer, model: string, version: string): boolean;
  /**
   * Request headers to drop before the request goes upstream (e.g. `x-api-key`), lowercase.
   * Read once at start.
   */
  stripRequestHeaders?: readonly string[];
  /** Extra response headers for an error response (e.g. WWW-Authenticate, Retry-After for a refusal). */
  errorHeaders?(err: MlgateError): Readonly<Record<string, string>> | undefined;
}

/** The consumer of requests when no hook identifies one. */
export const ANONYMOUS: Consumer = Object.freeze({ id: '' });
