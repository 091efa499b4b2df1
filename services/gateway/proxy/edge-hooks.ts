/**
 * Seams for the edge work (API-key consumers, per-model permissions, rate limits, token budgets,
 * who may pin).
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

/** What a token budget sees of an LLM request (an OpenAI route). */
export interface TokenRequest {
  /** The route template: `/v1/chat/completions`, `/v1/completions` or `/v1/embeddings`. */
  readonly route: string;
  /** The parsed body (an object). */
  readonly json: Readonly<Record<string, unknown>>;
  /** Size of the raw body in bytes. */
  readonly bytes: number;
}

/** The tokens a request used, as known once it ended (proxy/exchange-usage.ts). */
export interface TokensUsed {
  /** The request was sent upstream (false: answered by the gateway, e.g. a cache hit or a refusal after the reservation). */
  forwarded: boolean;
  /** The upstream answered 2xx and the whole answer was relayed (outcome ok). */
  answered: boolean;
  /** Input tokens the upstream reported; null when unknown. */
  tokensIn: number | null;
  /** Output tokens the upstream reported, or counted from a whole answer without usage; null when unknown. */
  tokensOut: number | null;
}

/** Tokens reserved for one request; settled exactly once when it ends. Never throws. */
export interface TokenHold {
  settle(used: TokensUsed): void;
}

/** Result of a hook: nothing, or a refusal. */
export type Refusal = MlgateError | undefined;

/** Hooks the edge work fills. All optional; the defaults let every request through as consumer ''. */
export interface GatewayHooks {
  /** Identifies the caller (e.g. by API key). Return an MlgateError (401) to refuse. */
  resolveConsumer?(req: RequestInfo): Consumer | MlgateError | Promise<Consumer | MlgateError>;
  /** May this consumer call this model? Rate limits go here too (429). Runs once the model is known. */
  authorize?(consumer: Consumer, model: string, req: RequestInfo): Refusal | Promise<Refusal>;
  /**
   * Token budgets of an LLM request, once it is allowed and about to be routed (OpenAI routes
   * only): reserve its estimated tokens (a hold, settled when the request ends), refuse it (an
   * MlgateError, 429), or nothing when no budget applies.
   */
  reserveTokens?(consumer: Consumer, model: string, req: TokenRequest): TokenHold | MlgateError | undefined | Promise<TokenHold | MlgateError | undefined>;
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
