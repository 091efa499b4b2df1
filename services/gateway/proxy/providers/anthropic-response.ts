/**
 * Anthropic Messages answers → OpenAI chat-completions answers (pure): a `message` becomes a
 * `chat.completion`, `stop_reason` a `finish_reason`, `usage.input_tokens`/`output_tokens`
 * OpenAI's `usage`, and an error answer (`{"type":"error","error":{type,message}}`) an OpenAI
 * error body with a status an OpenAI client understands.
 */

/** OpenAI's `finish_reason` for an Anthropic `stop_reason` (null while the answer goes on). */
export function finishReasonOf(stopReason: unknown): string | null {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    case null:
    case undefined:
      return null;
    default:
      return 'stop'; // e.g. pause_turn: the answer ended here
  }
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);

/** Input tokens of an Anthropic `usage`: uncached, cache writes and cache reads together. */
export function inputTokensOf(usage: Record<string, unknown>): number {
  return count(usage.input_tokens) + count(usage.cache_creation_input_tokens) + count(usage.cache_read_input_tokens);
}

/** OpenAI's `usage` from the input and output token counts. */
export function openaiUsage(input: number, output: number): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

/** A `chat.completion` for the Messages answer `msg`, or undefined when `msg` is not one. */
export function fromMessage(msg: unknown, createdS: number): Record<string, unknown> | undefined {
  if (msg === null || typeof msg !== 'object') return undefined;
  const m = msg as { type?: unknown; id?: unknown; model?: unknown; content?: unknown; stop_reason?: unknown; usage?: unknown };
  if (m.type !== 'message' || !Array.isArray(m.content)) return undefined;
  let text = '';
  for (const block of m.content as Array<{ type?: unknown; text?: unknown }>) {
    if (block !== null && typeof block === 'object' && block.type === 'text' && typeof block.text === 'string') text += block.text;
  }
  const u = m.usage !== null && typeof m.usage === 'object' ? (m.usage as Record<string, unknown>) : {};
  return {
    id: typeof m.id === 'string' ? m.id : 'msg',
    object: 'chat.completion',
    created: createdS,
    model: typeof m.model === 'string' ? m.model : '',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReasonOf(m.stop_reason) ?? 'stop' }],
    usage: openaiUsage(inputTokensOf(u), count(u.output_tokens)),
  };
}

/** Status the client gets for an Anthropic error status: 529 (overloaded) is 503, the rest as sent. */
export function clientStatusOf(upstreamStatus: number): number {
  return upstreamStatus === 529 ? 503 : upstreamStatus;
}

/**
 * OpenAI's error body for an Anthropic error answer `text` (status `status`): the provider's
 * message and error type, or a message naming the status when the body is not Anthropic's error.
 */
export function fromError(status: number, text: string): { error: { message: string; type: string; param: null; code: string | null } } {
  let type = status >= 500 ? 'api_error' : 'invalid_request_error';
  let message = `the Anthropic upstream answered ${status}`;
  try {
    const j = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } };
    if (j !== null && typeof j === 'object' && j.error !== null && typeof j.error === 'object') {
      if (typeof j.error.type === 'string') type = j.error.type.slice(0, 100);
      if (typeof j.error.message === 'string') message = j.error.message.slice(0, 2000);
    }
  } catch {
    message += ' with a body that is not JSON';
  }
  return { error: { message, type, param: null, code: type } };
}

/** OpenAI's error body for a failure of the gateway's own (an MLG code). */
export function gatewayError(code: string, message: string): { error: { message: string; type: string; param: null; code: string } } {
  return { error: { message, type: 'upstream_error', param: null, code } };
}
