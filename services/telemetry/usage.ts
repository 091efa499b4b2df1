/**
 * Token counts from LLM responses (OpenAI style `usage`), for JSON bodies and for SSE streams
 * whose final chunk carries `usage` (OpenAI with `stream_options.include_usage`, vLLM, ...).
 * Also understands `input_tokens`/`output_tokens` (Responses API style). Pure.
 */

/** Tokens in and out, null when unknown. */
export interface TokenUsage {
  tokensIn: number | null;
  tokensOut: number | null;
}

/**
 * Largest token count taken as one: the `tokens_in`/`tokens_out` columns are UInt32, and an
 * upstream claiming more (`1e308` is an integer to JavaScript) is not counting tokens. Such a
 * value is unknown (null), so it neither wraps in ClickHouse nor makes the cost infinite.
 */
const MAX_TOKENS = 0xffffffff;

const count = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TOKENS ? v : null);

/** Reads `usage` of a parsed JSON response. */
export function usageOf(body: unknown): TokenUsage | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const u = (body as { usage?: unknown }).usage;
  if (u === null || typeof u !== 'object') return undefined;
  const r = u as Record<string, unknown>;
  const tokensIn = count(r.prompt_tokens) ?? count(r.input_tokens);
  const tokensOut = count(r.completion_tokens) ?? count(r.output_tokens);
  if (tokensIn === null && tokensOut === null) return undefined;
  return { tokensIn, tokensOut };
}

/** Reads the last `usage` found in the `data:` events of an SSE stream's text. */
export function usageOfSse(text: string): TokenUsage | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (!data.includes('usage')) continue;
    try {
      const u = usageOf(JSON.parse(data));
      if (u) return u;
    } catch {
      /* a partial or non-JSON event: keep looking */
    }
  }
  return undefined;
}
