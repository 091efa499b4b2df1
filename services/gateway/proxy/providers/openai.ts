/**
 * The OpenAI-compatible provider (the default): OpenAI, vLLM, SGLang, TGI, llama.cpp, LiteLLM...
 * The request gets the version's credential headers, its upstream model and, on a stream whose
 * client did not ask for usage, `stream_options.include_usage`; the answer is relayed as it came
 * (the usage the gateway asked for is stripped by sse-usage.ts in the relay).
 */
import { withCredentials } from '../credentials.ts';
import type { ForwardRequest } from '../forward.ts';
import type { VersionUpstream } from '../upstreams.ts';
import type { Provider } from './provider.ts';

/** True when the request to `v` asks its upstream for stream usage the client did not ask for. */
export function asksUsage(v: VersionUpstream, req: ForwardRequest): boolean {
  return req.streamWithoutUsage === true && req.json !== undefined && v.config.streamUsage && v.config.provider === 'openai';
}

/**
 * The request as version `v` gets it: its credential headers instead of the client's, its
 * upstream model name, and `stream_options.include_usage` when {@link asksUsage}. Unchanged (the
 * same object) when the version needs none of these.
 */
export function shapeFor(v: VersionUpstream, req: ForwardRequest): ForwardRequest {
  const creds = v.credentials;
  const model = req.json !== undefined ? v.upstreamModel : undefined;
  const ask = asksUsage(v, req);
  if (creds === undefined && model === undefined && !ask) return req;
  let body = req.body;
  if (model !== undefined || ask) {
    const j: Record<string, unknown> = { ...req.json };
    if (model !== undefined) j.model = model;
    if (ask) {
      const so = j.stream_options;
      j.stream_options = { ...(so !== null && typeof so === 'object' && !Array.isArray(so) ? so : {}), include_usage: true };
    }
    body = Buffer.from(JSON.stringify(j));
  }
  return { ...req, headers: creds !== undefined ? withCredentials(req.headers, creds) : req.headers, body };
}

/** The OpenAI-compatible adapter: shapes the request, relays the answer untouched. */
export const openaiProvider: Provider = {
  name: 'openai',
  refuse: () => undefined,
  shape: shapeFor,
  translator: () => undefined,
};
