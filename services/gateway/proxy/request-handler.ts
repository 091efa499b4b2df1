/**
 * One request's way through the gateway: read the model, check the body, resolve the consumer,
 * reserve its token budgets (LLM routes), choose the version (pin, sticky, weights, fallback),
 * send upstream (and maybe a shadow copy), stream the answer back, then count it, hand its event
 * over and settle its token reservation. Every path ends in {@link RequestHandler.finish}, which
 * is the only place a request is counted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MlgateError } from '../../core/errors.ts';
import { parseJsonBounded } from '../../core/json-depth.ts';
import type { Logger } from '../../core/log.ts';
import { GatewayErrors, outcomeOf } from '../errors.ts';
import { eventId } from './ids.ts';
import { Exchange, ResponseCapture, UNKNOWN_MODEL, UNMATCHED_ROUTE } from './exchange-record.ts';
import { asksUsage, forward, upstreamHeaders, type Forwarded, type ForwardRequest } from './forward.ts';
import type { Permit } from '../routing/breaker.ts';
import type { VersionUpstream } from './upstreams.ts';
import { ANONYMOUS, type Consumer, type GatewayHooks, type RequestInfo, type TokensUsed } from './edge-hooks.ts';
import { usedTokens } from './exchange-usage.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { ModelRuntime } from '../routing/model-runtime.ts';
import { relay, sendError } from './relay.ts';
import type { RoutingTable } from '../routing/table.ts';
import type { ShadowSender } from './shadow.ts';
import type { TelemetryStage } from '../../telemetry/event-stage.ts';
import { recordOf } from '../observability/event-record.ts';
import { RequestTracer } from '../observability/tracing.ts';
import type { EdgeMetrics } from '../edge/edge-metrics.ts';
import type { SchemaBook } from '../edge/input-schema.ts';
import type { CachedResponse, Lru, ResponseCache } from '../edge/cache.ts';
import { CACHE_HEADER, requestCacheKey, storable, wantsStream, writeHit } from '../edge/cache-path.ts';
import type { Hasher } from '../../telemetry/hash.ts';

/** Which family of route a request came in on. */
export type RouteKind = 'model' | 'openai';

/** Header a client uses to pin a version (and the response header naming the version that served). */
export const VERSION_HEADER = 'x-mlgate-version';
const MODEL_PREFIX = '/v1/models/';
const PREDICT_ROUTE = '/v1/models/{model}/predict';
const MODEL_ROUTE = '/v1/models/{model}/*';
const OPENAI_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);
const INTERNAL_HEADERS = [VERSION_HEADER, 'x-mlgate-shadow', 'traceparent', 'tracestate'];

/** What the handler needs. */
export interface RequestHandlerOptions {
  table: RoutingTable;
  metrics: GatewayMetrics;
  telemetry: TelemetryStage;
  shadow: ShadowSender;
  tracer: RequestTracer;
  hooks: GatewayHooks;
  logger: Logger;
  bodyLimit: number;
  /** Input schemas by model config (edge). */
  schemas: SchemaBook;
  edgeMetrics: EdgeMetrics;
  /** Response caches of the versions that cache. */
  cache: ResponseCache;
  /** Keys the response cache (the events' input hash). */
  hasher: Hasher;
}

/** Where a cache miss stores its answer. */
interface CacheSlot {
  lru: Lru;
  key: string;
}

const round = (ms: number) => String(Math.round(ms * 1000) / 1000);

/** Handles data-plane requests. */
export class RequestHandler {
  /** True once shutdown began: new requests get 503. */
  draining = false;
  /** True once the shutdown deadline passed and remaining requests are being cut. */
  cutting = false;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly strip: ReadonlySet<string>;

  constructor(private readonly opts: RequestHandlerOptions) {
    this.strip = new Set([...INTERNAL_HEADERS, ...(opts.hooks.stripRequestHeaders ?? []).map((h) => h.toLowerCase())]);
  }

  /** Requests in flight. */
  get active(): number {
    return this.inflight;
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Serves one proxied request. Never throws; always ends the response and emits one event.
   * `template` is the route it matched; it (never the raw path) is the event's `route`.
   */
  handle(kind: RouteKind, template: string, req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, ip: string): void {
    const x = this.begin(req, body);
    x.route = template;
    this.run(kind, template, x, req, res, ip).catch((err: unknown) => this.respondError(x, res, err));
  }

  /**
   * `GET /v1/models` (and `/v1/models/{id}` with `id`), in OpenAI's format: the models this
   * caller may call (the edge's permissions; every configured model without them). A model the
   * caller may not call is answered as unknown. No event: this is not model traffic.
   */
  async listModels(req: IncomingMessage, res: ServerResponse, id: string | undefined, ip: string): Promise<void> {
    const hooks = this.opts.hooks;
    try {
      let consumer: Consumer = ANONYMOUS;
      if (hooks.resolveConsumer) {
        let c = hooks.resolveConsumer({ method: req.method ?? 'GET', path: pathOf(req.url ?? '/'), headers: req.headers, ip });
        if (isThenable(c)) c = await c;
        if (c instanceof MlgateError) return this.sendBare(res, c);
        consumer = c;
      }
      const visible = (m: string): boolean => this.opts.table.get(m) !== undefined && (!hooks.mayCall || hooks.mayCall(consumer, m));
      const entry = (m: string) => ({ id: m, object: 'model', created: this.createdS, owned_by: 'mlgate' });
      if (id === undefined) {
        const names = [...this.opts.table.all()].map((m) => m.name).filter(visible).sort();
        return this.sendJson(res, 200, { object: 'list', data: names.map(entry) });
      }
      if (!visible(id)) return this.sendBare(res, GatewayErrors.unknownModel(`model ${id.slice(0, 200)} is not served here`, { details: { model: id.slice(0, 200) } }));
      return this.sendJson(res, 200, entry(id));
    } catch (err) {
      this.opts.logger.error({ err }, 'listing models failed');
      return this.sendBare(res, GatewayErrors.internal('unexpected gateway failure'));
    }
  }

  /** `created` of the model list: when this gateway started (s since the epoch). */
  private readonly createdS = Math.floor(Date.now() / 1000);

  private sendJson(res: ServerResponse, status: number, body: unknown): void {
    const payload = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length), ...(this.draining ? { connection: 'close' } : {}) });
    res.end(payload);
  }

  /** An error of a route without an event (the edge's headers, e.g. WWW-Authenticate, added). */
  private sendBare(res: ServerResponse, err: MlgateError): void {
    const payload = Buffer.from(JSON.stringify(err.toJSON()));
    const more = this.opts.hooks.errorHeaders?.(err) ?? {};
    res.writeHead(err.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length), ...more });
    res.end(payload);
  }

  /** Answers a request that failed before routing (404 path, body too large) with its event. */
  fail(req: IncomingMessage, res: ServerResponse, err: MlgateError, _ip: string): void {
    const x = this.begin(req, undefined);
    const url = req.url ?? '';
    x.route = GatewayErrors.notFound.is(err) ? UNMATCHED_ROUTE : routeTemplateOf(x.method, pathOf(url));
    if (x.route !== UNMATCHED_ROUTE && url.startsWith(MODEL_PREFIX)) {
      const rt = this.opts.table.get(safeDecode(url.slice(MODEL_PREFIX.length).split(/[/?]/, 1)[0] ?? ''));
      if (rt) {
        x.model = rt.name;
        x.modelConfig = rt.config;
      }
    }
    const len = Number(req.headers['content-length']);
    if (Number.isFinite(len) && len > 0) x.requestBytes = len;
    this.respondError(x, res, err);
  }

  private begin(req: IncomingMessage, body: Buffer | undefined): Exchange {
    const x = new Exchange(eventId(), Date.now(), performance.now());
    this.inflight++;
    x.method = req.method ?? 'GET';
    x.requestBody = body;
    x.requestBytes = body?.length ?? 0;
    const ct = req.headers['content-type'];
    x.requestContentType = ct;
    return x;
  }

  private async run(kind: RouteKind, template: string, x: Exchange, req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    if (this.draining) return this.respondError(x, res, GatewayErrors.shuttingDown('the gateway is shutting down; retry on another instance'));
    const url = req.url ?? '/';
    // The name the client asked for; x.model only ever holds a configured one.
    let name = '';
    let rest: string;
    if (kind === 'model') {
      const after = url.slice(MODEL_PREFIX.length);
      const slash = after.search(/[/?]/);
      const seg = slash < 0 ? after : after.slice(0, slash);
      name = safeDecode(seg);
      rest = slash < 0 ? '' : after.slice(slash);
    } else {
      rest = url.slice(3); // '/v1/chat/completions' -> '/chat/completions'
    }
    const body = x.requestBody;
    const ct = x.requestContentType;
    if (body && body.length > 0 && (kind === 'openai' || (ct !== undefined && ct.includes('json')))) {
      try {
        x.requestJson = parseJsonBounded(body.toString('utf8'));
      } catch (err) {
        return this.respondError(x, res, GatewayErrors.badJson(`request body is not valid JSON: ${(err as Error).message}`));
      }
    }
    if (kind === 'openai') {
      const m = (x.requestJson as { model?: unknown } | null | undefined)?.model;
      if (typeof m !== 'string' || m === '') {
        return this.respondError(x, res, GatewayErrors.badRequest('the JSON body must name the model in "model"'));
      }
      name = m;
    }
    const rt = this.opts.table.get(name);
    if (!rt) return this.respondError(x, res, GatewayErrors.unknownModel(`model ${name.slice(0, 200)} is not served here`, { details: { model: name.slice(0, 200) } }));
    x.model = rt.name;
    x.modelConfig = rt.config;
    const limit = rt.config.maxBodyBytes ?? this.opts.bodyLimit;
    if (x.requestBytes > limit) {
      return this.respondError(x, res, GatewayErrors.tooLarge(`request body of ${x.requestBytes} bytes is over the ${limit}-byte limit of model ${rt.name}`, { details: { limit } }));
    }
    const info: RequestInfo = { method: x.method, path: pathOf(url), headers: req.headers, ip };
    const hooks = this.opts.hooks;
    let consumer: Consumer = ANONYMOUS;
    // Hooks answer synchronously unless they must ask a store (JWKS, Redis): await only then, so
    // the common case takes no microtask hop.
    if (hooks.resolveConsumer) {
      let c = hooks.resolveConsumer(info);
      if (isThenable(c)) c = await c;
      if (c instanceof MlgateError) return this.respondError(x, res, c);
      consumer = c;
    }
    x.consumerId = consumer.id;
    if (hooks.authorize) {
      let refusal = hooks.authorize(consumer, rt.name, info);
      if (isThenable(refusal)) refusal = await refusal;
      if (refusal) return this.respondError(x, res, refusal);
    }
    const schemas = this.opts.schemas.of(rt.name, rt.config);
    if (schemas) {
      const bad = schemas.check(rt.name, x.requestJson, x.requestJson !== undefined);
      if (bad) {
        this.opts.edgeMetrics.schemaRejections.labels(rt.name, bad.reason).inc();
        return this.respondError(x, res, bad.error);
      }
    }
    x.trace = this.opts.tracer.begin(req.headers.traceparent, `${x.method} ${template}`);
    const pinHeader = req.headers[VERSION_HEADER];
    const pin = typeof pinHeader === 'string' && pinHeader !== '' ? pinHeader : undefined;
    if (pin !== undefined && hooks.allowPin && !hooks.allowPin(consumer, rt.name, pin)) {
      return this.respondError(x, res, GatewayErrors.forbidden(`this consumer may not pin a version of model ${rt.name}`));
    }
    // Token budgets (LLM routes): the estimate is reserved now and settled in finish().
    if (hooks.reserveTokens && kind === 'openai') {
      let hold = hooks.reserveTokens(consumer, rt.name, { route: template, json: x.requestJson as Record<string, unknown>, bytes: x.requestBody?.length ?? 0 });
      if (isThenable(hold)) hold = await hold;
      if (hold instanceof MlgateError) return this.respondError(x, res, hold);
      x.tokenHold = hold;
    }
    this.proxy(x, rt, req, res, rest, ip, pin, this.stickyKey(rt, consumer, req));
    return undefined;
  }

  private stickyKey(rt: ModelRuntime, consumer: Consumer, req: IncomingMessage): string | undefined {
    const s = rt.config.sticky;
    if (s.kind === 'consumer') return consumer.id || undefined;
    if (s.kind === 'header') {
      const v = req.headers[s.header];
      return typeof v === 'string' && v !== '' ? v : undefined;
    }
    return undefined;
  }

  private proxy(x: Exchange, rt: ModelRuntime, req: IncomingMessage, res: ServerResponse, rest: string, ip: string, pin: string | undefined, sticky: string | undefined): void {
    let choice;
    try {
      choice = rt.route(pin, sticky, Math.random());
    } catch (err) {
      return this.respondError(x, res, err);
    }
    const { version: v, permit } = choice;
    x.version = v.name;
    x.role = choice.role;
    x.rolloutId = rt.state.rollout_id ?? '';
    x.capture = new ResponseCapture(this.opts.table.gatewayConfig.captureMaxBytes);
    const lru = this.opts.cache.of(rt.name, v.name);
    let slot: CacheSlot | undefined;
    if (lru) {
      x.cache = 'miss';
      if (!wantsStream(x, req)) {
        const key = requestCacheKey(this.opts.hasher, x, rest);
        const hit = lru.get(key);
        this.opts.edgeMetrics.cache.labels(rt.name, v.name, hit ? 'hit' : 'miss').inc();
        if (hit) {
          v.breaker.release(permit);
          return this.serveHit(x, res, hit);
        }
        slot = { lru, key };
      }
    }
    const headers = upstreamHeaders(req.headers, this.strip);
    headers.traceparent = RequestTracer.header(x.trace!);
    const xff = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = typeof xff === 'string' && xff ? `${xff}, ${ip}` : ip;
    const fwdReq: ForwardRequest = { method: x.method, path: rest, headers, body: x.requestBody && x.requestBody.length > 0 ? x.requestBody : null };
    const json = x.requestJson;
    const openaiJson = OPENAI_PATHS.has(x.route) && json !== null && typeof json === 'object' && !Array.isArray(json);
    // What the version's provider adapter cannot translate is refused before it goes anywhere.
    const refusal = v.provider.refuse(x.route, openaiJson ? json as Record<string, unknown> : undefined);
    if (refusal) {
      v.breaker.release(permit);
      return this.respondError(x, res, refusal);
    }
    if (openaiJson) {
      fwdReq.json = json as Record<string, unknown>;
      fwdReq.streamWithoutUsage = streamsWithoutUsage(x.route, fwdReq.json);
      x.upstreamModel = v.upstreamModel ?? rt.name;
      x.stripUsage = asksUsage(v, fwdReq);
    }
    x.tUpstream = performance.now();
    if (rt.config.shadow && x.role !== 'pinned') this.opts.shadow.maybe(rt, x, fwdReq);
    const m = this.opts.metrics;
    forward(v, fwdReq, () => m.upstreamRetries.labels(rt.name, v.name).inc()).then(
      (f) => {
        x.tHeaders = performance.now();
        const extra = this.responseHeaders(x);
        extra['x-mlgate-upstream-latency'] = round(x.tHeaders - x.tUpstream);
        if (x.cache !== '') extra[CACHE_HEADER] = 'miss';
        const store = slot && storable(f.response) ? slot : undefined;
        if (slot && !store) this.opts.edgeMetrics.cache.labels(rt.name, v.name, 'skip').inc();
        try {
          this.relayAnswer(x, res, f, fwdReq, extra, v, permit, store);
        } catch (err) {
          // e.g. a header the upstream sent that Node refuses to write: our failure, not the version's
          f.response.destroy();
          v.balancer.end(f.target, true);
          v.breaker.release(permit);
          this.opts.logger.error({ err, model: x.model, version: x.version, event_id: x.eventId }, 'could not relay the upstream answer');
          this.respondError(x, res, GatewayErrors.upstreamError(`version ${v.name} of model ${rt.name} sent an answer the gateway cannot relay`, { cause: err }));
        }
      },
      (err: unknown) => {
        v.breaker.record(permit, false);
        this.respondError(x, res, err);
      },
    );
  }

  private serveHit(x: Exchange, res: ServerResponse, hit: CachedResponse): void {
    x.cache = 'hit';
    x.status = hit.status;
    x.responseContentType = hit.contentType;
    x.responseBytes = hit.body.length;
    x.capture!.add(hit.body);
    x.tFirstByte = performance.now();
    writeHit(res, hit, this.responseHeaders(x));
    x.tEnd = performance.now();
    x.outcome = 'ok';
    this.finish(x);
  }

  /** Keeps a complete answer of a cache miss. */
  private store(x: Exchange, slot: CacheSlot): void {
    const body = x.capture?.body();
    const kept = body !== undefined && x.status === 200 && slot.lru.set(slot.key, { status: 200, contentType: x.responseContentType, body: Buffer.from(body) });
    this.opts.edgeMetrics.cache.labels(x.model, x.version, kept ? 'store' : 'skip').inc();
  }

  private relayAnswer(x: Exchange, res: ServerResponse, f: Forwarded, req: ForwardRequest, extra: Record<string, string>, v: VersionUpstream, permit: Permit, slot?: CacheSlot): void {
    // A provider that speaks another API than OpenAI's translates the answer (providers/).
    relay(res, f.response, x, extra, (end) => {
      const ok = end.outcome !== 'upstream_error' && end.outcome !== 'timeout';
      if (end.outcome === 'client_closed') {
        v.breaker.release(permit);
        v.balancer.end(f.target, true);
        x.status = 499;
      } else {
        v.breaker.record(permit, ok);
        v.balancer.end(f.target, ok);
      }
      x.outcome = end.outcome;
      x.errorClass = end.errorClass;
      if (x.usageStripGaveUp) this.opts.logger.warn({ model: x.model, version: x.version, event_id: x.eventId }, 'an SSE event over the rewrite limit: the rest of the stream passed unchanged, its usage chunk included');
      if (end.errorClass === GatewayErrors.providerBadAnswer.code) this.opts.logger.warn({ model: x.model, version: x.version, event_id: x.eventId }, 'the upstream answer could not be translated to the OpenAI shape');
      if (slot && end.outcome === 'ok') this.store(x, slot);
      this.finish(x);
    }, v.provider.translator(req, f.response));
  }

  private responseHeaders(x: Exchange): Record<string, string> {
    const h: Record<string, string> = {
      'x-mlgate-event-id': x.eventId,
      'x-mlgate-proxy-latency': round((x.tUpstream || performance.now()) - x.t0),
    };
    if (x.version) h[VERSION_HEADER] = x.version;
    if (this.draining) h.connection = 'close';
    return h;
  }

  private respondError(x: Exchange, res: ServerResponse, err: unknown): void {
    const extra = this.responseHeaders(x);
    const more = err instanceof MlgateError ? this.opts.hooks.errorHeaders?.(err) : undefined;
    if (more) for (const k in more) extra[k.toLowerCase()] = more[k]!;
    // Every gateway 503 says when to come back (the error's details may know; else 1 s).
    if (err instanceof MlgateError && err.statusCode === 503 && extra['retry-after'] === undefined) {
      const s = err.details?.retry_after_s;
      extra['retry-after'] = String(typeof s === 'number' && s >= 1 ? Math.ceil(s) : 1);
    }
    sendError(res, x, err, extra);
    x.outcome = outcomeOf(err instanceof MlgateError ? err : undefined);
    if (!(err instanceof MlgateError)) this.opts.logger.error({ err, event_id: x.eventId }, 'unexpected error while proxying');
    this.finish(x);
  }

  /** Counts the request, ends its span and hands its event over. */
  private finish(x: Exchange): void {
    if (x.tEnd === 0) x.tEnd = performance.now();
    if (this.cutting && x.outcome !== 'ok') x.errorClass = 'shutdown_deadline';
    const m = this.opts.metrics;
    const model = x.modelConfig !== undefined ? x.model : UNKNOWN_MODEL; // client-chosen names never become label values
    m.countRequest(model, x.version, x.role, x.outcome);
    m.observeDuration(model, x.version, x.role, (x.tEnd - x.t0) / 1000);
    if (x.tUpstream > 0 && (x.tUpstreamEnd || x.tHeaders) > 0) m.observeUpstream(model, x.version, ((x.tUpstreamEnd || x.tHeaders) - x.tUpstream) / 1000);
    if (x.tFirstByte > 0) m.observeTtfb(model, x.version, (x.tFirstByte - x.t0) / 1000);
    if (x.trace) RequestTracer.end(x.trace, { status: x.status, outcome: x.outcome, model, version: x.version, role: x.role });
    this.opts.telemetry.submit(recordOf(x));
    // Settled off the response path: reading the usage may parse the answer.
    if (x.tokenHold) setImmediate(settleTokens, x);
    if (--this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}

/** Settles `x`'s token reservation with what it used (exchange-usage.ts). */
function settleTokens(x: Exchange): void {
  const hold = x.tokenHold!;
  x.tokenHold = undefined;
  let used: TokensUsed;
  try {
    used = usedTokens(x);
  } catch {
    used = { forwarded: x.tUpstream > 0, answered: false, tokensIn: null, tokensOut: null };
  }
  hold.settle(used);
}

/** Routes whose streams can carry usage (`stream_options.include_usage`). */
const USAGE_STREAM_ROUTES: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

/** A streamed chat or completion request whose client did not ask for usage. */
function streamsWithoutUsage(route: string, json: Record<string, unknown>): boolean {
  if (!USAGE_STREAM_ROUTES.has(route) || json.stream !== true) return false;
  const so = json.stream_options as { include_usage?: unknown } | null | undefined;
  return !(so !== null && typeof so === 'object' && so.include_usage === true);
}

/** A promise (or any thenable a hook may return). */
function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Path without the query string. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * The route template a request that failed before its handler ran (bad path, body too large, a
 * body that broke off) came in on, as the data plane's routes would match it; `unmatched` when
 * none would.
 */
export function routeTemplateOf(method: string, path: string): string {
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path; // the router ignores one trailing slash
  if (p.startsWith(MODEL_PREFIX)) {
    const slash = p.indexOf('/', MODEL_PREFIX.length);
    if (slash <= MODEL_PREFIX.length) return UNMATCHED_ROUTE;
    return method === 'POST' && p.slice(slash) === '/predict' ? PREDICT_ROUTE : MODEL_ROUTE;
  }
  return method === 'POST' && OPENAI_PATHS.has(p) ? p : UNMATCHED_ROUTE;
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
