/**
 * The response cache on the request path: which requests may use it, the key of a request
 * (method, path with query, keyed input hash: the same HMAC the events carry, so equal inputs
 * share an entry and the key never holds the input), which answers may be stored (complete 200s
 * with a length; never a stream), and writing a hit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UpstreamHead } from '../proxy/upstream-call.ts';
import type { Hasher } from '../../telemetry/hash.ts';
import type { Exchange } from '../proxy/exchange-record.ts';
import { cacheKey, type CachedResponse } from './cache.ts';

/** Response header telling whether the cache answered. */
export const CACHE_HEADER = 'x-mlgate-cache';
const SSE = /text\/event-stream/i;
const EMPTY = Buffer.alloc(0);

/** True when the client asked for a stream (`"stream": true` or `Accept: text/event-stream`): never cached. */
export function wantsStream(x: Exchange, req: IncomingMessage): boolean {
  const j = x.requestJson as { stream?: unknown } | null | undefined;
  if (j !== null && typeof j === 'object' && j.stream === true) return true;
  const accept = req.headers.accept;
  return typeof accept === 'string' && SSE.test(accept);
}

/** The cache key of a request within its version. `path` is the forwarded path with its query. */
export function requestCacheKey(hasher: Hasher, x: Exchange, path: string): string {
  const h = x.requestJson !== undefined ? hasher.hashValue(x.requestJson) : hasher.hashPayload(x.requestBody ?? EMPTY, x.requestContentType);
  return cacheKey(x.method, path, h);
}

/** True when an upstream answer may be stored once complete: 200, a content-length, not SSE. */
export function storable(up: UpstreamHead): boolean {
  if (up.statusCode !== 200) return false;
  const h = up.headers;
  const ct = h['content-type'];
  if (typeof ct === 'string' && SSE.test(ct)) return false;
  return typeof h['content-length'] === 'string' && h['transfer-encoding'] === undefined;
}

/** Writes a cached answer with the gateway's headers. */
export function writeHit(res: ServerResponse, hit: CachedResponse, headers: Record<string, string>): void {
  headers[CACHE_HEADER] = 'hit';
  headers['content-length'] = String(hit.body.length);
  if (hit.contentType !== undefined) headers['content-type'] = hit.contentType;
  res.writeHead(hit.status, headers);
  res.end(hit.body);
}
