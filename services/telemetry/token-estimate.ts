/**
 * Token counts for an LLM exchange whose upstream reported none (a server that ignores
 * `stream_options.include_usage`, or answers without `usage`), counted with a tokenizer
 * (gpt-tokenizer's o200k_base, the encoding of OpenAI's current models) over the request's
 * messages and the answer's text. The event marks such counts `tokens_estimated`: they are close
 * for OpenAI models and approximate for others (another vocabulary), and they miss what the
 * answer does not show (reasoning tokens a provider bills but does not stream, image inputs).
 *
 * The tokenizer (~70 MB of tables, ~0.3 s to load) is loaded on the first exchange that needs
 * it, so a deployment whose upstreams always report usage never pays for it. Pure apart from
 * that load.
 */
import { createRequire } from 'node:module';
import type { TokenUsage } from './usage.ts';

type CountTokens = (text: string) => number;
let countTokens: CountTokens | undefined;

function tokens(text: string): number {
  if (text === '') return 0;
  countTokens ??= (createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as { countTokens: CountTokens }).countTokens;
  return countTokens(text);
}

/**
 * Largest text the tokenizer counts where the count runs on a request's event loop (token
 * budgets): counting costs up to ~0.55 ms per KiB of random text (1 MiB: over half a second), so
 * larger texts are estimated from their size with {@link sizeEstimate}.
 */
export const COUNT_MAX_BYTES = 16 * 1024;

/** Tokens of a text of `bytes` bytes by OpenAI's rule of thumb for English, about four bytes a token. */
export function sizeEstimate(bytes: number): number {
  return Math.ceil(bytes / 4);
}

/** Tokens OpenAI adds per chat message (role and separators) and to prime the answer. */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The text of a message's `content`: a string, or the text parts of an array (images count 0). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const part of content) if (isObject(part) && typeof part.text === 'string') s += part.text;
  return s;
}

/** Strings of `v` (a string or an array of strings), joined; token arrays are counted by length. */
function promptTokens(v: unknown): number | null {
  if (typeof v === 'string') return tokens(v);
  if (!Array.isArray(v)) return null;
  if (v.every((x) => typeof x === 'number')) return v.length;
  let n = 0;
  for (const x of v) {
    if (typeof x === 'string') n += tokens(x);
    else if (Array.isArray(x) && x.every((y) => typeof y === 'number')) n += x.length;
  }
  return n;
}

/**
 * Input tokens of a parsed OpenAI request body: chat `messages` (content, role, name, tool calls
 * and the tool definitions, with OpenAI's per-message overhead), a completion's `prompt` or an
 * embedding's `input`. Null when the body has none of them.
 */
export function estimateInputTokens(body: unknown): number | null {
  if (!isObject(body)) return null;
  if (Array.isArray(body.messages)) {
    let n = REPLY_PRIMING;
    for (const m of body.messages) {
      if (!isObject(m)) continue;
      n += PER_MESSAGE;
      if (typeof m.role === 'string') n += tokens(m.role);
      if (typeof m.name === 'string') n += tokens(m.name) + 1;
      n += tokens(contentText(m.content));
      if (Array.isArray(m.tool_calls)) n += tokens(JSON.stringify(m.tool_calls));
    }
    if (Array.isArray(body.tools) && body.tools.length > 0) n += tokens(JSON.stringify(body.tools));
    return n;
  }
  if ('prompt' in body) return promptTokens(body.prompt);
  if ('input' in body) return promptTokens(body.input);
  return null;
}

/** What a choice (or a stream chunk's delta) shows of the answer: text, reasoning, refusal, tool calls. */
function choiceText(c: Record<string, unknown>): string {
  let s = typeof c.text === 'string' ? c.text : '';
  for (const key of ['message', 'delta']) {
    const m = c[key];
    if (!isObject(m)) continue;
    s += contentText(m.content);
    for (const extra of ['reasoning_content', 'reasoning', 'refusal']) if (typeof m[extra] === 'string') s += m[extra];
    if (Array.isArray(m.tool_calls)) {
      for (const call of m.tool_calls) {
        const fn = isObject(call) ? call.function : undefined;
        if (isObject(fn)) s += `${typeof fn.name === 'string' ? fn.name : ''}${typeof fn.arguments === 'string' ? fn.arguments : ''}`;
      }
    }
  }
  return s;
}

function answerText(body: unknown): string | null {
  if (!isObject(body) || !Array.isArray(body.choices)) return null;
  let s = '';
  for (const c of body.choices) if (isObject(c)) s += choiceText(c);
  return s;
}

/** True when a parsed response is an OpenAI answer (chat or completion `choices`, embedding `data`). */
export function isOpenAiAnswer(body: unknown): boolean {
  return isObject(body) && (Array.isArray(body.choices) || (body.object === 'list' && Array.isArray(body.data)));
}

/** Output tokens of a parsed OpenAI response (chat or completion); null when it is neither. */
export function estimateOutputTokens(body: unknown): number | null {
  const text = answerText(body);
  return text === null ? null : tokens(text);
}

/** Output tokens of a whole OpenAI-style SSE stream: the text of every chunk's choices. */
export function estimateSseOutputTokens(text: string): number | null {
  let s = '';
  let chunks = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '' || data === '[DONE]') continue;
    let parsed: unknown;
    try { parsed = JSON.parse(data); } catch { continue; }
    const t = answerText(parsed);
    if (t === null) continue;
    chunks++;
    s += t;
  }
  return chunks === 0 ? null : tokens(s);
}

/**
 * Fills what `usage` lacks with estimates: input tokens from the request, output tokens from the
 * answer (`output` counts them, or null when the answer is unknown: a response too large to
 * keep whole). `estimated` is true when any count came from here.
 */
export function completeUsage(usage: TokenUsage | undefined, requestJson: unknown, output: () => number | null): { usage: TokenUsage | undefined; estimated: boolean } {
  let tokensIn = usage?.tokensIn ?? null;
  let tokensOut = usage?.tokensOut ?? null;
  let estimated = false;
  if (tokensIn === null && requestJson !== undefined) {
    tokensIn = estimateInputTokens(requestJson);
    estimated ||= tokensIn !== null;
  }
  if (tokensOut === null) {
    tokensOut = output();
    estimated ||= tokensOut !== null;
  }
  if (tokensIn === null && tokensOut === null) return { usage, estimated: false };
  return { usage: { tokensIn, tokensOut }, estimated };
}
