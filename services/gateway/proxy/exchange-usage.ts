/**
 * The tokens a finished LLM exchange used, for settling its token-budget reservation (edge,
 * token-budgets.ts): the `usage` the upstream reported (a JSON answer's, or an SSE stream's last
 * usage chunk, which the capture keeps even when it was stripped for the client), else, for a
 * whole 2xx answer without it, its output counted with the tokenizer as its event will be
 * (telemetry/token-estimate.ts). Reads the exchange's capture only; runs after the response.
 */
import { parseJsonBounded } from '../../core/json-depth.ts';
import { COUNT_MAX_BYTES, estimateOutputTokens, estimateSseOutputTokens, isOpenAiAnswer, sizeEstimate } from '../../telemetry/token-estimate.ts';
import { usageOf, usageOfSse, type TokenUsage } from '../../telemetry/usage.ts';
import type { TokensUsed } from './edge-hooks.ts';
import type { Exchange } from './exchange-record.ts';
import { isEventStream } from './relay-end.ts';

const JSON_TYPE = /json/i;

/** The tokenizer's count of an answer of `size` bytes up to COUNT_MAX_BYTES, else its size estimate (counting runs on the event loop). */
function countOrSize(size: number, count: () => number | null): number | null {
  return size > COUNT_MAX_BYTES ? sizeEstimate(size) : count();
}

/** What `x` used of its reservation. */
export function usedTokens(x: Exchange): TokensUsed {
  // Sent upstream: tUpstream is set just before the dispatch (a cache hit or a refusal never gets there).
  const forwarded = x.tUpstream > 0;
  const answered = forwarded && x.outcome === 'ok';
  const cap = x.capture;
  if (!forwarded || !cap || cap.bytes === 0) return { forwarded, answered, tokensIn: null, tokensOut: null };
  let usage: TokenUsage | undefined;
  let counted: number | null = null;
  if (isEventStream(x.responseContentType)) {
    const text = cap.tail().toString('utf8'); // the whole stream when it fit, else its end (where usage is)
    usage = usageOfSse(text);
    if (answered && usage?.tokensOut == null && !cap.overflow) counted = countOrSize(text.length, () => estimateSseOutputTokens(text));
  } else if (x.status >= 200 && x.status < 300 && (x.responseContentType === undefined || JSON_TYPE.test(x.responseContentType))) {
    const body = cap.body();
    let parsed: unknown;
    if (body) {
      try { parsed = parseJsonBounded(body.toString('utf8')); } catch { parsed = undefined; }
    }
    usage = usageOf(parsed);
    if (answered && usage?.tokensOut == null && isOpenAiAnswer(parsed)) counted = countOrSize(body!.length, () => estimateOutputTokens(parsed));
  }
  return { forwarded, answered, tokensIn: usage?.tokensIn ?? null, tokensOut: usage?.tokensOut ?? counted };
}
