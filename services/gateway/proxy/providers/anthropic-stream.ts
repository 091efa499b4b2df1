/**
 * An Anthropic Messages event stream → an OpenAI `chat.completion.chunk` stream, chunk by chunk.
 *
 * | Anthropic event | OpenAI chunk |
 * | --- | --- |
 * | `message_start` | the role chunk `{"role":"assistant","content":""}` |
 * | `content_block_delta` with a `text_delta` | a content chunk |
 * | `message_delta` | nothing yet: its `stop_reason` and `usage` are kept |
 * | `message_stop` | the `finish_reason` chunk, the usage chunk, `data: [DONE]` |
 * | `ping`, `content_block_start`/`stop`, other deltas, unknown types | nothing |
 * | `error` | an error event `data: {"error":{...}}` (what the OpenAI SDKs throw on); the stream ends |
 *
 * The usage chunk (`{"choices":[],"usage":{...}}`) always goes into the record (the event's
 * tokens) and reaches the client only when it asked (`stream_options.include_usage`). An event
 * that is not JSON, one over {@link MAX_SSE_EVENT_BYTES}, or a stream that ends before
 * `message_stop` closes the client's stream with an error event too; {@link failure} then names
 * the code and the relay stops reading the upstream. A stream that ends early (failure, client
 * gone) still gets a usage chunk in its record with the tokens known so far
 * ({@link AnthropicStreamTranslator.usageSoFar}).
 */
import { GatewayErrors } from '../../errors.ts';
import { MAX_SSE_EVENT_BYTES, eventEnd } from '../sse-usage.ts';
import { finishReasonOf, gatewayError, inputTokensOf, openaiUsage } from './anthropic-response.ts';
import type { StreamTranslator, TranslatedChunk } from './provider.ts';

const NONE: TranslatedChunk = { client: undefined, record: undefined };
const DONE = 'data: [DONE]\n\n';

/** The `data` of one SSE event's text (its `data:` lines joined), '' when it has none. */
export function sseData(event: string): string {
  let data = '';
  let any = false;
  for (const raw of event.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith('data:')) continue;
    const v = line[5] === ' ' ? line.slice(6) : line.slice(5);
    data = any ? `${data}\n${v}` : v;
    any = true;
  }
  return data;
}

/** Translates one Anthropic stream. */
export class AnthropicStreamTranslator implements StreamTranslator {
  readonly kind = 'stream';
  failure = '';
  private pending: Buffer | undefined;
  private done = false;
  private id = 'msg';
  private model = '';
  private inputTokens = 0;
  private outputTokens = 0;
  private stopReason: unknown = null;
  /** message_start was seen (the input tokens are known). */
  private started = false;
  /** The usage chunk went into the record. */
  private usageRecorded = false;

  /**
   * @param includeUsage the client asked for `stream_options.include_usage`.
   * @param createdS the chunks' `created` (s since the epoch).
   */
  constructor(private readonly includeUsage: boolean, private readonly createdS: number, private readonly maxEvent = MAX_SSE_EVENT_BYTES) {}

  push(chunk: Buffer): TranslatedChunk {
    if (this.done) return NONE;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let client = '';
    let record = '';
    let pos = 0;
    for (let end = eventEnd(buf, pos); end >= 0 && !this.done; end = eventEnd(buf, pos)) {
      // The limit holds whether an event came in pieces (below) or whole in one read.
      const [c, r] = end - pos > this.maxEvent ? this.tooLarge() : this.onEvent(buf.toString('utf8', pos, end));
      client += c;
      record += r;
      pos = end;
    }
    if (!this.done && pos < buf.length) {
      const rest = buf.subarray(pos);
      if (rest.length > this.maxEvent) {
        const [c, r] = this.tooLarge();
        client += c;
        record += r;
      } else {
        this.pending = rest;
      }
    }
    return out(client, record);
  }

  end(): TranslatedChunk {
    if (this.done) return NONE;
    const rest = this.pending;
    this.pending = undefined;
    let client = '';
    let record = '';
    // A last event without its blank line still counts.
    if (rest !== undefined && rest.toString('utf8').trim() !== '') [client, record] = this.onEvent(rest.toString('utf8'));
    if (!this.done) {
      const [c, r] = this.fail(GatewayErrors.providerBadAnswer.code, 'the Anthropic upstream ended its stream before message_stop');
      client += c;
      record += r;
    }
    return out(client, record);
  }

  usageSoFar(): Buffer | undefined {
    if (!this.started || this.usageRecorded) return undefined;
    this.usageRecorded = true;
    return Buffer.from(this.usageChunk());
  }

  /** The client's and the record's text for one event. */
  private onEvent(text: string): [string, string] {
    const data = sseData(text);
    if (data === '') return ['', '']; // a comment or a bare `event:` line
    let ev: { type?: unknown; message?: unknown; delta?: unknown; usage?: unknown; error?: unknown };
    try {
      ev = JSON.parse(data) as typeof ev;
    } catch {
      return this.fail(GatewayErrors.providerBadAnswer.code, 'the Anthropic upstream sent an SSE event whose data is not JSON');
    }
    if (ev === null || typeof ev !== 'object') return this.fail(GatewayErrors.providerBadAnswer.code, 'the Anthropic upstream sent an SSE event whose data is not a JSON object');
    switch (ev.type) {
      case 'message_start': {
        const m = (ev.message ?? {}) as { id?: unknown; model?: unknown; usage?: Record<string, unknown> | null };
        this.started = true;
        if (typeof m.id === 'string') this.id = m.id;
        if (typeof m.model === 'string') this.model = m.model;
        if (m.usage && typeof m.usage === 'object') {
          this.inputTokens = inputTokensOf(m.usage);
          this.outputTokens = count(m.usage.output_tokens, this.outputTokens);
        }
        return both(this.chunk({ role: 'assistant', content: '' }, null));
      }
      case 'content_block_delta': {
        const d = ev.delta as { type?: unknown; text?: unknown } | null | undefined;
        if (d && d.type === 'text_delta' && typeof d.text === 'string' && d.text !== '') return both(this.chunk({ content: d.text }, null));
        return ['', ''];
      }
      case 'message_delta': {
        const d = ev.delta as { stop_reason?: unknown } | null | undefined;
        if (d && d.stop_reason !== undefined) this.stopReason = d.stop_reason;
        const u = ev.usage as Record<string, unknown> | null | undefined;
        if (u && typeof u === 'object') {
          this.outputTokens = count(u.output_tokens, this.outputTokens);
          if (u.input_tokens !== undefined) this.inputTokens = inputTokensOf(u);
        }
        return ['', ''];
      }
      case 'message_stop': {
        this.done = true;
        const finish = this.chunk({}, finishReasonOf(this.stopReason) ?? 'stop');
        const usage = this.usageChunk();
        this.usageRecorded = true;
        return [finish + (this.includeUsage ? usage : '') + DONE, finish + usage + DONE];
      }
      case 'error': {
        const e = (ev.error ?? {}) as { type?: unknown; message?: unknown };
        const type = typeof e.type === 'string' ? e.type.slice(0, 100) : 'api_error';
        const message = typeof e.message === 'string' ? e.message.slice(0, 2000) : 'the Anthropic upstream reported an error';
        this.done = true;
        this.failure = GatewayErrors.providerStreamError.code;
        return both(sse({ error: { message, type, param: null, code: type } }));
      }
      default:
        return ['', '']; // ping, content_block_start/stop, thinking and tool deltas, types added later
    }
  }

  private tooLarge(): [string, string] {
    return this.fail(GatewayErrors.providerBadAnswer.code, `the Anthropic upstream sent an SSE event over ${this.maxEvent} bytes`);
  }

  /** Ends the stream with an error event naming `code`. */
  private fail(code: string, message: string): [string, string] {
    this.done = true;
    this.pending = undefined;
    this.failure = code;
    return both(sse(gatewayError(code, message)));
  }

  private usageChunk(): string {
    return sse({
      id: this.id, object: 'chat.completion.chunk', created: this.createdS, model: this.model, choices: [],
      usage: openaiUsage(this.inputTokens, this.outputTokens),
    });
  }

  private chunk(delta: Record<string, unknown>, finish: string | null): string {
    return sse({
      id: this.id, object: 'chat.completion.chunk', created: this.createdS, model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
  }
}

const count = (v: unknown, otherwise: number): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : otherwise);
const sse = (v: unknown): string => `data: ${JSON.stringify(v)}\n\n`;
const both = (s: string): [string, string] => [s, s];

function out(client: string, record: string): TranslatedChunk {
  if (client === '' && record === '') return NONE;
  const c = client === '' ? undefined : Buffer.from(client);
  return { client: c, record: record === client ? c : Buffer.from(record) };
}
