/**
 * The Anthropic Messages provider: an OpenAI chat-completions request to a version declaring
 * `provider: anthropic` goes to `{target}/messages` (a target `https://api.anthropic.com/v1`
 * gives Anthropic's `/v1/messages`) as a Messages request (anthropic-request.ts), and its answer
 * comes back to the client in OpenAI's shape: a whole answer or an error at its end
 * (anthropic-response.ts), a stream event by event (anthropic-stream.ts).
 *
 * Only `/v1/chat/completions` is translated; the other OpenAI routes are refused with a 400
 * naming the limitation, and the model routes (`/v1/models/{model}/...`) pass as they are, with
 * the version's credentials (a client may speak the Messages API itself there).
 */
import { GatewayErrors } from '../../errors.ts';
import { withCredentials } from '../credentials.ts';
import { isEventStream } from '../relay-end.ts';
import type { ForwardRequest } from '../forward.ts';
import type { UpstreamHead } from '../upstream-call.ts';
import type { VersionUpstream } from '../upstreams.ts';
import { toMessagesRequest, type MessagesRequest } from './anthropic-request.ts';
import { clientStatusOf, fromError, fromMessage, gatewayError } from './anthropic-response.ts';
import { AnthropicStreamTranslator } from './anthropic-stream.ts';
import type { BodyTranslator, Provider, TranslatedBody } from './provider.ts';

/** The Messages API version sent when the client names none (`anthropic-version` header). */
export const ANTHROPIC_VERSION = '2023-06-01';

/** The one OpenAI route translated. */
const CHAT_ROUTE = '/v1/chat/completions';
const CHAT_PATH = '/chat/completions';

/** Largest whole answer read to translate (bytes): a Messages answer is far smaller. */
const MAX_ANSWER_BYTES = 16 << 20;

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The Messages request of a chat request's parsed body, translated once: refuse() needs it to
 * know whether the request can go, shape() to send it (per attempt, and for a shadow copy), each
 * with the same body object. The model is left '' here; shape() sets the version's.
 */
const translations = new WeakMap<object, MessagesRequest>();
function translationOf(json: Record<string, unknown>): MessagesRequest {
  let m = translations.get(json);
  if (m === undefined) translations.set(json, (m = toMessagesRequest(json, '')));
  return m;
}

/** True for a chat request the adapter translates (an OpenAI route's parsed body, chat path). */
function isChat(req: ForwardRequest): req is ForwardRequest & { json: Record<string, unknown> } {
  return req.json !== undefined && (req.path === CHAT_PATH || req.path.startsWith(`${CHAT_PATH}?`));
}

/** Whole answers (not streamed, or errors): an OpenAI body for the Messages one. */
class AnthropicBodyTranslator implements BodyTranslator {
  readonly kind = 'body';
  readonly maxBytes = MAX_ANSWER_BYTES;

  constructor(private readonly streamed: boolean) {}

  translate(status: number, body: Buffer | undefined): TranslatedBody {
    if (body === undefined) return bad(`the Anthropic upstream's answer is over ${this.maxBytes} bytes`);
    if (status >= 300) {
      return { status: clientStatusOf(status), contentType: JSON_TYPE, body: json(fromError(status, body.toString('utf8'))), errorClass: `http_${status}`, failed: false };
    }
    if (this.streamed) return bad('the Anthropic upstream answered a stream request without an event stream');
    let msg: unknown;
    try {
      msg = JSON.parse(body.toString('utf8'));
    } catch {
      return bad('the Anthropic upstream answered with a body that is not JSON');
    }
    const completion = fromMessage(msg, Math.floor(Date.now() / 1000));
    if (completion === undefined) return bad('the Anthropic upstream answered JSON that is not a Messages answer');
    return { status: 200, contentType: JSON_TYPE, body: json(completion), errorClass: '', failed: false };
  }
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function bad(message: string): TranslatedBody {
  const code = GatewayErrors.providerBadAnswer.code;
  return { status: 502, contentType: JSON_TYPE, body: json(gatewayError(code, message)), errorClass: code, failed: true };
}

/** The Anthropic Messages adapter. */
export const anthropicProvider: Provider = {
  name: 'anthropic',

  refuse(route, body) {
    if (body === undefined) return undefined; // a model route: passed as it is
    if (route !== CHAT_ROUTE) {
      return GatewayErrors.providerUnsupported(`${route} is not translated for Anthropic versions; only ${CHAT_ROUTE} is`, { details: { route, provider: 'anthropic' } });
    }
    const m = translationOf(body);
    return m.ok ? undefined : GatewayErrors.providerUnsupported(m.reason, { details: { provider: 'anthropic' } });
  },

  shape(v: VersionUpstream, req: ForwardRequest): ForwardRequest {
    const creds = v.credentials;
    const headers = creds !== undefined ? withCredentials(req.headers, creds) : { ...req.headers };
    if (!isChat(req)) return creds !== undefined ? { ...req, headers } : req;
    const clientModel = typeof req.json.model === 'string' ? req.json.model : '';
    const m = translationOf(req.json);
    // refuse() ran first: a request that cannot be translated never gets here.
    if (!m.ok) throw GatewayErrors.providerUnsupported(m.reason);
    // `model` is the body's first member already: it keeps its place.
    const messages = { ...m.body, model: v.upstreamModel ?? clientModel };
    headers['content-type'] = 'application/json';
    // The translators read the bytes: no compressed answer.
    headers['accept-encoding'] = 'identity';
    if (headers['anthropic-version'] === undefined) headers['anthropic-version'] = ANTHROPIC_VERSION;
    const q = req.path.indexOf('?');
    return { ...req, path: `/messages${q < 0 ? '' : req.path.slice(q)}`, headers, body: Buffer.from(JSON.stringify(messages)) };
  },

  translator(req: ForwardRequest, head: UpstreamHead) {
    if (!isChat(req)) return undefined;
    const streamed = req.json.stream === true;
    const ct = head.headers['content-type'];
    if (streamed && head.statusCode === 200 && typeof ct === 'string' && isEventStream(ct)) {
      const so = req.json.stream_options as { include_usage?: unknown } | null | undefined;
      return new AnthropicStreamTranslator(so !== null && typeof so === 'object' && so.include_usage === true, Math.floor(Date.now() / 1000));
    }
    return new AnthropicBodyTranslator(streamed);
  },
};
