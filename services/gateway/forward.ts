/**
 * Sends a request to one of a version's targets with undici, retrying on other targets after a
 * connection error only (refused, reset before an answer, unreachable, connect timeout) — never
 * after a response or a response timeout. Maps failures to the catalogue: timeouts to
 * MLG_GW_UPSTREAM_TIMEOUT (504), everything else to MLG_GW_UPSTREAM_ERROR (502).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { MlgateError } from '../core/errors.ts';
import { GatewayErrors } from './errors.ts';
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
}

/** A response from the upstream; the caller must call `done(ok)` once the body ended. */
export interface Forwarded {
  response: Dispatcher.ResponseData;
  /** Index of the target that answered. */
  target: number;
  /** Retries it took. */
  retries: number;
  /** Reports the end of the exchange with that target (balancer bookkeeping, passive ejection). */
  done(ok: boolean): void;
}

/** Copies request headers for the upstream, dropping hop-by-hop and `strip` headers. */
export function upstreamHeaders(inHeaders: IncomingHttpHeaders, strip: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in inHeaders) {
    if (HOP_BY_HOP.has(k) || strip.has(k)) continue;
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
export async function forward(v: VersionUpstream, req: ForwardRequest, onRetry?: () => void): Promise<Forwarded> {
  const tried = new Set<number>();
  let lastErr: unknown;
  for (let attempt = 0; attempt <= v.config.retries; attempt++) {
    const i = v.balancer.pick(tried);
    if (i < 0) break;
    if (attempt > 0) onRetry?.();
    tried.add(i);
    const t = v.targets[i]!;
    v.balancer.begin(i);
    try {
      const response = await t.pool.request({
        method: req.method as Dispatcher.HttpMethod,
        path: t.basePath + req.path,
        headers: req.headers,
        body: req.body,
        headersTimeout: v.config.timeoutMs,
        bodyTimeout: v.config.streamIdleTimeoutMs,
      });
      let ended = false;
      return {
        response, target: i, retries: attempt,
        done: (ok) => {
          if (ended) return;
          ended = true;
          v.balancer.end(i, ok);
        },
      };
    } catch (err) {
      v.balancer.end(i, false);
      lastErr = err;
      if (!RETRYABLE.has(errorCode(err))) break;
    }
  }
  if (lastErr === undefined) {
    throw GatewayErrors.noUpstream(`version ${v.name} of model ${v.model} has no usable target`, { details: { model: v.model, version: v.name } });
  }
  throw upstreamFailure(lastErr, v.model, v.name);
}
