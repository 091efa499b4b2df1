/**
 * Sends a request to one of a version's targets with undici, retrying on other targets after a
 * connection error only (refused, reset before an answer, unreachable, connect timeout) — never
 * after a response or a response timeout. Maps failures to the catalogue: timeouts to
 * MLG_GW_UPSTREAM_TIMEOUT (504), everything else to MLG_GW_UPSTREAM_ERROR (502).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { MlgateError } from '../../core/errors.ts';
import { GatewayErrors } from '../errors.ts';
import { connectionListed } from './header-policy.ts';
import { UpstreamCall } from './upstream-call.ts';
import type { VersionUpstream } from './upstreams.ts';

/** Hop-by-hop headers (RFC 9110 7.6.1) and headers a proxy must not pass on. */
export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', 'http2-settings',
]);

const RETRYABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
]);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The undici (or system) error code of an error, '' when none. */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (e && typeof e.code === 'string') return e.code;
  if (e && e.cause && typeof e.cause.code === 'string') return e.cause.code;
  return '';
}

/** Maps an upstream failure to a catalogue error (an MlgateError passes through). */
export function upstreamFailure(err: unknown, model: string, version: string): MlgateError {
  if (err instanceof MlgateError) return err;
  const code = errorCode(err);
  const details = { model, version, cause: code || 'unknown' };
  if (TIMEOUTS.has(code)) return GatewayErrors.upstreamTimeout(`version ${version} of model ${model} did not answer in time`, { cause: err, details });
  return GatewayErrors.upstreamError(`version ${version} of model ${model} failed: ${code || 'connection error'}`, { cause: err, details });
}

/** A request to send upstream. */
export interface ForwardRequest {
  method: string;
  /** Path after the gateway's route prefix, with the query string (e.g. `/predict?x=1`). */
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
  /** The parsed JSON body of an OpenAI route (its `model` may be rewritten per version). */
  json?: Record<string, unknown> | undefined;
  /** An OpenAI stream whose client did not ask for `stream_options.include_usage`. */
  streamWithoutUsage?: boolean;
}

// The OpenAI request shaping lives with its adapter; re-exported for existing callers.
export { asksUsage, shapeFor } from './providers/openai.ts';

/**
 * A response from the upstream. The caller must report its end once with
 * `version.balancer.end(target, ok)` (in-flight count, passive ejection).
 */
export interface Forwarded {
  /** Status and headers; the body is read with `response.pipe(sink)` (or dropped with `destroy()`). */
  response: UpstreamCall;
  /** Index of the target that answered. */
  target: number;
  /** Retries it took. */
  retries: number;
}

/** Copies request headers for the upstream, dropping hop-by-hop headers, those the client names in `Connection`, and `strip` headers. */
export function upstreamHeaders(inHeaders: IncomingHttpHeaders, strip: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = connectionListed(inHeaders.connection);
  for (const k in inHeaders) {
    if (HOP_BY_HOP.has(k) || strip.has(k) || listed?.has(k) === true) continue;
    const v = inHeaders[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Sends `req` to a target of `v`. Resolves with the response once headers arrived.
 * @param onRetry called before each retry (metrics).
 * @throws MLG_GW_NO_UPSTREAM when no target is usable, else a mapped upstream failure.
 */
export function forward(v: VersionUpstream, clientReq: ForwardRequest, onRetry?: () => void): Promise<Forwarded> {
  const req = v.provider.shape(v, clientReq);
  // The common case (first attempt answers) takes no async function frame and no extra promise hop.
  const i = v.balancer.pick();
  if (i < 0) return Promise.reject(GatewayErrors.noUpstream(`version ${v.name} of model ${v.model} has no usable target`, { details: { model: v.model, version: v.name } }));
  return attempt(v, req, i).then(
    (response) => ({ response, target: i, retries: 0 }),
    (err: unknown) => retry(v, req, err, i, onRetry),
  );
}

function attempt(v: VersionUpstream, req: ForwardRequest, i: number): Promise<UpstreamCall> {
  const t = v.targets[i]!;
  v.balancer.begin(i);
  return UpstreamCall.start(t.pool, {
    method: req.method as Dispatcher.HttpMethod,
    path: t.basePath + req.path,
    headers: req.headers,
    body: req.body,
    headersTimeout: v.config.timeoutMs,
    bodyTimeout: v.config.streamIdleTimeoutMs,
  });
}

async function retry(v: VersionUpstream, req: ForwardRequest, firstErr: unknown, first: number, onRetry?: () => void): Promise<Forwarded> {
  v.balancer.end(first, false);
  let lastErr = firstErr;
  const tried = new Set<number>([first]);
  for (let n = 1; n <= v.config.retries && RETRYABLE.has(errorCode(lastErr)); n++) {
    const i = v.balancer.pick(tried);
    if (i < 0) break;
    onRetry?.();
    tried.add(i);
    try {
      return { response: await attempt(v, req, i), target: i, retries: n };
    } catch (err) {
      v.balancer.end(i, false);
      lastErr = err;
    }
  }
  throw upstreamFailure(lastErr, v.model, v.name);
}
