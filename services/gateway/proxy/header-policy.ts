/**
 * Which headers cross the gateway. Both ways, hop-by-hop headers (RFC 9110 7.6.1) and every
 * header the sender names in its `Connection` header are dropped: they describe one connection,
 * and a client could otherwise name e.g. `x-api-key` or an upstream name an internal header to
 * make a proxy behave differently from what it was told. Upstream response headers then go
 * through the model's `responseHeaders` list (config.ts), and an upstream's `x-mlgate-*` headers
 * never reach a client (that name space is the gateway's).
 */
import type { ResponseHeadersConfig } from '../config.ts';
import { DEFAULT_DENIED_RESPONSE_HEADERS } from '../config.ts';

/** Response headers that describe one connection or the message framing. */
const RESPONSE_HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'transfer-encoding', 'upgrade', 'trailer', 'te',
]);
/** Headers that describe the body: an allow list keeps them whatever it names. */
const BODY_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length', 'content-encoding']);
const GATEWAY_PREFIX = 'x-mlgate-';
/** Values of `Connection` that name no other header. */
const PLAIN_CONNECTION = /^\s*(close|keep-alive)\s*$/i;

/**
 * The header names a `Connection` header lists (lower case), or undefined when it lists none
 * but `close` / `keep-alive` (the common case costs one regex test).
 */
export function connectionListed(v: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (v === undefined) return undefined;
  const text = typeof v === 'string' ? v : v.join(',');
  if (PLAIN_CONNECTION.test(text)) return undefined;
  const out = new Set<string>();
  for (const t of text.split(',')) {
    const name = t.trim().toLowerCase();
    if (name !== '') out.add(name);
  }
  return out;
}

interface CompiledPolicy {
  allow: boolean;
  names: ReadonlySet<string>;
}

const DEFAULT_POLICY: CompiledPolicy = { allow: false, names: new Set(DEFAULT_DENIED_RESPONSE_HEADERS) };
const compiled = new WeakMap<ResponseHeadersConfig, CompiledPolicy>();

function compile(p: ResponseHeadersConfig | undefined): CompiledPolicy {
  if (p === undefined) return DEFAULT_POLICY;
  let c = compiled.get(p);
  if (!c) {
    c = { allow: p.mode === 'allow', names: new Set(p.names) };
    compiled.set(p, c);
  }
  return c;
}

/**
 * Removes, in place, the upstream response headers a client must not see: hop-by-hop ones,
 * those named in the upstream's `Connection`, `x-mlgate-*`, and what `policy` refuses
 * (absent: the default deny list).
 */
export function filterResponseHeaders(headers: Record<string, string | string[] | undefined>, policy: ResponseHeadersConfig | undefined): void {
  const listed = connectionListed(headers.connection);
  const p = compile(policy);
  for (const k in headers) {
    const drop = RESPONSE_HOP_BY_HOP.has(k) || listed?.has(k) === true || k.startsWith(GATEWAY_PREFIX)
      || (p.allow ? !p.names.has(k) && !BODY_HEADERS.has(k) : p.names.has(k));
    if (drop) delete headers[k];
  }
}
