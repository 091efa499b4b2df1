/**
 * A provider adapter: what a model version's upstream API needs from the gateway beyond a plain
 * relay. The OpenAI-compatible adapter (openai.ts) shapes the request (credentials, upstream
 * model, usage asked for) and relays the answer as it comes; the Anthropic adapter
 * (anthropic.ts) translates an OpenAI chat request to the Messages API and its answer back.
 * A version's adapter is chosen by its `provider` config field ({@link providerOf}).
 */
import type { MlgateError } from '../../../core/errors.ts';
import type { ForwardRequest } from '../forward.ts';
import type { UpstreamHead } from '../upstream-call.ts';
import type { VersionUpstream } from '../upstreams.ts';
import type { ProviderName } from './names.ts';

/** What the client gets for one upstream chunk of a translated stream. */
export interface TranslatedChunk {
  /** Bytes for the client ('' when nothing yet). */
  client: Buffer | undefined;
  /**
   * Bytes for the event's capture and token timing: the client's, plus the usage chunk the
   * client did not ask for (so the event always has tokens).
   */
  record: Buffer | undefined;
}

/** Translates a streamed answer chunk by chunk. */
export interface StreamTranslator {
  readonly kind: 'stream';
  /** The translation of one upstream chunk. */
  push(chunk: Buffer): TranslatedChunk;
  /** The upstream's stream ended: what is left to send. */
  end(): TranslatedChunk;
  /**
   * A usage chunk for the record of a stream that ended without its own (the client left, or
   * the translation failed): the tokens known so far, so the event still has them. Undefined
   * when the stream's usage was already recorded or nothing is known.
   */
  usageSoFar(): Buffer | undefined;
  /**
   * '' while all is well; once set (an error code), the stream was closed with an error event
   * and the rest of the upstream's answer is not wanted.
   */
  readonly failure: string;
}

/** A whole answer, translated once the upstream's body is complete. */
export interface TranslatedBody {
  status: number;
  contentType: string;
  body: Buffer;
  /** The event's error class: '' when fine, `http_<upstream status>` or an MLG code. */
  errorClass: string;
  /** True when the answer could not be translated (the client gets a 502). */
  failed: boolean;
}

/** Translates an answer that is read whole before the client gets anything. */
export interface BodyTranslator {
  readonly kind: 'body';
  /** Largest upstream body read (bytes); more is a failed translation. */
  readonly maxBytes: number;
  /** The client's answer for the upstream's status and body (undefined: over {@link maxBytes}). */
  translate(status: number, body: Buffer | undefined): TranslatedBody;
}

/** One provider adapter. */
export interface Provider {
  readonly name: ProviderName;
  /**
   * Why a request on the OpenAI route `route` cannot go to this provider (a 400 naming the
   * limitation), or undefined when it can.
   */
  refuse(route: string, json: Record<string, unknown> | undefined): MlgateError | undefined;
  /** The request as version `v`'s upstream gets it (the same object when nothing changes). */
  shape(v: VersionUpstream, req: ForwardRequest): ForwardRequest;
  /** A translator for the upstream's answer to `req`, or undefined to relay it as it came. */
  translator(req: ForwardRequest, head: UpstreamHead): StreamTranslator | BodyTranslator | undefined;
}
