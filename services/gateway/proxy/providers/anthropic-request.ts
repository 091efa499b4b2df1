/**
 * OpenAI chat-completions request → Anthropic Messages request (pure). System (and developer)
 * messages become `system`; user and assistant messages keep their order with their text;
 * `max_tokens` (or `max_completion_tokens`) is defaulted when absent since the Messages API
 * requires it; `stop` becomes `stop_sequences`; `temperature`, `top_p`, `stream` pass; `user`
 * becomes `metadata.user_id`. What cannot be translated faithfully (tools, several choices,
 * images, log probabilities, JSON response formats) is refused with a reason rather than dropped.
 * Sampling fields the Messages API has no equivalent for (`seed`, `presence_penalty`,
 * `frequency_penalty`, `logit_bias`, ...) are left out.
 */

/** `max_tokens` sent when the client gave none (the Messages API requires one). */
export const DEFAULT_MAX_TOKENS = 4096;

/** The Messages API request, or why the chat request cannot become one. */
export type MessagesRequest = { ok: true; body: Record<string, unknown> } | { ok: false; reason: string };

/** Request members refused outright: what the adapter does not translate (yet). */
const REFUSED: ReadonlyArray<[string, string]> = [
  ['tools', 'tool calls are not translated for Anthropic versions yet'],
  ['tool_choice', 'tool calls are not translated for Anthropic versions yet'],
  ['functions', 'function calls are not translated for Anthropic versions'],
  ['function_call', 'function calls are not translated for Anthropic versions'],
  ['audio', 'audio output is not available on Anthropic versions'],
];

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** The text of an OpenAI message's `content` (a string or text parts), or a refusal reason. */
function textOf(content: unknown, where: string): { text: string } | { reason: string } {
  if (typeof content === 'string') return { text: content };
  if (content === null || content === undefined) return { text: '' };
  if (!Array.isArray(content)) return { reason: `${where}.content must be a string or an array of parts` };
  let text = '';
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as { type?: unknown; text?: unknown } | null;
    if (part === null || typeof part !== 'object' || part.type !== 'text' || typeof part.text !== 'string') {
      const type = part !== null && typeof part === 'object' && typeof part.type === 'string' ? part.type.slice(0, 40) : typeof part;
      return { reason: `${where}.content[${i}] is a ${type} part; only text parts are translated for Anthropic versions` };
    }
    text += part.text;
  }
  return { text };
}

/**
 * The Messages request for the OpenAI chat request `json`, sent as `model` (the version's
 * upstream model, or the client's model when the version names none).
 */
export function toMessagesRequest(json: Record<string, unknown>, model: string): MessagesRequest {
  for (const [key, reason] of REFUSED) if (present(json[key])) return { ok: false, reason: `"${key}": ${reason}` };
  if (present(json.n) && json.n !== 1) return { ok: false, reason: '"n": Anthropic versions answer one choice per request' };
  if (json.logprobs === true || present(json.top_logprobs)) return { ok: false, reason: '"logprobs": Anthropic versions return no log probabilities' };
  const rf = json.response_format as { type?: unknown } | null | undefined;
  if (present(rf) && rf!.type !== 'text') return { ok: false, reason: '"response_format": only {"type":"text"} is translated for Anthropic versions' };
  if (!Array.isArray(json.messages)) return { ok: false, reason: '"messages" must be an array' };

  const system: string[] = [];
  const messages: Array<{ role: 'user' | 'assistant'; content: string }> = [];
  for (let i = 0; i < json.messages.length; i++) {
    const m = json.messages[i] as { role?: unknown; content?: unknown; tool_calls?: unknown } | null;
    const where = `messages[${i}]`;
    if (m === null || typeof m !== 'object') return { ok: false, reason: `${where} must be an object` };
    if (m.role === 'tool' || m.role === 'function' || present(m.tool_calls)) {
      return { ok: false, reason: `${where}: tool calls are not translated for Anthropic versions yet` };
    }
    const t = textOf(m.content, where);
    if ('reason' in t) return { ok: false, reason: t.reason };
    if (m.role === 'system' || m.role === 'developer') system.push(t.text);
    else if (m.role === 'user' || m.role === 'assistant') messages.push({ role: m.role, content: t.text });
    else return { ok: false, reason: `${where}.role ${JSON.stringify(m.role)} is not one of system, developer, user, assistant` };
  }

  const body: Record<string, unknown> = { model, messages };
  if (system.length > 0) body.system = system.join('\n\n');
  const max = json.max_completion_tokens ?? json.max_tokens;
  if (present(max) && !(typeof max === 'number' && Number.isInteger(max) && max >= 1)) {
    return { ok: false, reason: '"max_tokens" must be a positive integer' };
  }
  body.max_tokens = present(max) ? max : DEFAULT_MAX_TOKENS;
  if (present(json.stop)) {
    const stop = typeof json.stop === 'string' ? [json.stop] : json.stop;
    if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string')) return { ok: false, reason: '"stop" must be a string or an array of strings' };
    body.stop_sequences = stop;
  }
  if (present(json.temperature)) body.temperature = json.temperature;
  if (present(json.top_p)) body.top_p = json.top_p;
  if (json.stream === true) body.stream = true;
  if (typeof json.user === 'string' && json.user !== '') body.metadata = { user_id: json.user };
  return { ok: true, body };
}
