/**
 * The gateway edge, wired: fills the gateway's hooks (resolveConsumer, authorize, allowPin,
 * reserveTokens, stripRequestHeaders) from the config's consumers, auth, rate limits and token
 * budgets. Without consumers and auth it returns no hooks at all (only reserveTokens when token
 * budgets are set), so the gateway serves anonymous consumer '' as before.
 *
 * Order per request: credential (401) -> model permission (403) -> rate limit (429) -> pin (403)
 * -> token budget (429, LLM routes; token-budgets.ts).
 * A refusal is a catalogue error; {@link refusalHeaders} gives the headers it must carry
 * (WWW-Authenticate, Retry-After, RateLimit-*).
 */
import type { Registry } from 'prom-client';
import type { MlgateError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { GatewayErrors } from '../errors.ts';
import type { Consumer, GatewayHooks, RequestInfo } from '../proxy/edge-hooks.ts';
import { ConsumerTable, type EdgeConsumer } from './consumers.ts';
import type { AuthConfig, ConsumerConfig, ConsumerLimits, RateLimitsConfig, TokenBudgetsConfig } from './edge-config.ts';
import { EdgeMetrics } from './edge-metrics.ts';
import { JwtVerifier } from './jwt.ts';
import { mayCall, mayPin } from './permissions.ts';
import { RedisBuckets, type StoreOp } from './rate-limit-redis.ts';
import { TokenBudgets } from './token-budgets.ts';
import { LocalBuckets, type BucketSpec, type RateDecision } from './token-bucket.ts';
import { SubjectIds } from './consumer-ids.ts';
import type { Hasher } from '../../telemetry/hash.ts';
import type { ConsumerIdMode } from '../../telemetry/config.ts';

/** Options of {@link createEdge}. */
export interface EdgeOptions {
  consumers?: Readonly<Record<string, ConsumerConfig>> | undefined;
  auth?: AuthConfig | undefined;
  rateLimits?: RateLimitsConfig | undefined;
  /** Tokens-per-minute budgets of LLM requests (kept in the `rateLimits` store). */
  tokenBudgets?: TokenBudgetsConfig | undefined;
  /** The gateway's Prometheus registry. */
  registry: Registry;
  logger: Logger;
  /** Keys the hash a token's subject is stored under (the telemetry hasher). */
  hasher: Hasher;
  /** `telemetry.consumerIds`: `hash` (default) or `raw`; see consumer-ids.ts. */
  consumerIds?: ConsumerIdMode | undefined;
}

/** A running edge. */
export interface Edge {
  /** Hooks for startGateway; `{}` when the edge is off. */
  readonly hooks: GatewayHooks;
  readonly metrics: EdgeMetrics;
  /** The consumer table (admin changes replace it); undefined when the edge is off. */
  readonly consumers: ConsumerTable | undefined;
  /** Settlings still on their way to Redis are awaited, then the Redis connection (if any) closed. */
  close(): Promise<void>;
}

const headersOf = new WeakMap<MlgateError, Record<string, string>>();

/** Headers a refusal made by the edge must carry, if any. */
export function refusalHeaders(err: unknown): Record<string, string> | undefined {
  return typeof err === 'object' && err !== null ? headersOf.get(err as MlgateError) : undefined;
}

function withHeaders(err: MlgateError, h: Record<string, string>): MlgateError {
  headersOf.set(err, h);
  return err;
}

/** Presented credential: from `Authorization: Bearer` or `x-api-key`. */
export function credentialOf(info: RequestInfo): string | undefined {
  const a = info.headers.authorization;
  if (typeof a === 'string' && a.length > 7 && a.slice(0, 7).toLowerCase() === 'bearer ') return a.slice(7).trim();
  const k = info.headers['x-api-key'];
  return typeof k === 'string' && k !== '' ? k : undefined;
}

const isJwt = (t: string): boolean => t.split('.').length === 3;

/** Builds the edge from config. Throws MLG_EDGE_SETUP (via the JWT key source) on bad settings. */
export function createEdge(opts: EdgeOptions): Edge {
  const metrics = new EdgeMetrics(opts.registry);
  const logger = opts.logger.child({ component: 'edge' });
  const edgeOn = opts.consumers !== undefined || opts.auth !== undefined;
  if (!edgeOn && !opts.tokenBudgets) return { hooks: {}, metrics, consumers: undefined, close: async () => {} };
  const rl = opts.rateLimits;
  const lastStoreLog: Record<'requests' | 'tokens', number> = { requests: 0, tokens: 0 };
  const storeFailed = (err: Error, op: StoreOp): void => {
    const what = op === 'take' ? 'requests' : 'tokens';
    if (op === 'take') metrics.rateStoreErrors.inc();
    else metrics.tokenBudgetStoreErrors.labels(op).inc();
    if (Date.now() - lastStoreLog[what] > 10_000) {
      lastStoreLog[what] = Date.now();
      logger.warn({ err, op }, op === 'take' ? 'rate-limit store failed; letting requests through'
        : op === 'reserve' ? 'token-budget store failed; letting requests through unreserved' : 'token-budget store failed; a settling was skipped');
    }
  };
  const redis = rl?.store === 'redis'
    ? new RedisBuckets({ url: rl.redisUrl!, keyPrefix: rl.keyPrefix, timeoutMs: rl.redisTimeoutMs, onError: storeFailed })
    : undefined;
  const local = new LocalBuckets();
  /** Token budgets in the same store, their consumers labelled by `label` in metrics. */
  const tokenBudgets = (label: (id: string) => string) => {
    const budgets = opts.tokenBudgets ? new TokenBudgets({ config: opts.tokenBudgets, local, redis, metrics, logger, label, withHeaders }) : undefined;
    const close = async (): Promise<void> => {
      await budgets?.drain();
      await redis?.close();
    };
    return { reserveTokens: budgets?.any ? budgets.reserve : undefined, close };
  };
  // Token budgets without consumers: every request is anonymous consumer ''.
  if (!edgeOn) {
    const { reserveTokens, close } = tokenBudgets((id) => id);
    return { hooks: reserveTokens ? { reserveTokens, errorHeaders: refusalHeaders } : {}, metrics, consumers: undefined, close };
  }
  const table = new ConsumerTable(opts.consumers ?? {});
  const apiKeys = opts.auth?.apiKeys ?? true;
  const jwt = opts.auth?.jwt ? new JwtVerifier(opts.auth.jwt, table) : undefined;
  // A token's subject (often an email) is stored as a keyed hash unless configured; never a metric label.
  const subjects = new SubjectIds(opts.consumerIds ?? 'hash', opts.hasher, (id) => table.get(id) !== undefined);
  const { reserveTokens, close } = tokenBudgets((id) => subjects.label(id));
  const deny = (reason: string, message: string): MlgateError => {
    metrics.authFailures.labels(reason).inc();
    return withHeaders(GatewayErrors.unauthorized(message), { 'www-authenticate': `Bearer realm="mlgate"${reason === 'missing' ? '' : ', error="invalid_token"'}` });
  };

  const resolveConsumer = (info: RequestInfo): Consumer | MlgateError | Promise<Consumer | MlgateError> => {
    const cred = credentialOf(info);
    if (cred === undefined) return deny('missing', 'an API key (Authorization: Bearer or x-api-key) or a bearer token is required');
    if (jwt && isJwt(cred)) {
      return jwt.verify(cred).then((r) => (r.ok ? { ...r.consumer, id: subjects.of(r.consumer.id) } : deny(r.reason, `the bearer token was refused (${r.reason.replace(/_/g, ' ')})`)));
    }
    const c = apiKeys ? table.byApiKey(cred) : undefined;
    return c ?? deny('invalid_key', 'the API key is not valid');
  };

  const limitsOf = (c: EdgeConsumer): ConsumerLimits | undefined => c.limits ?? rl?.default;
  const bucketsOf = (c: EdgeConsumer, model: string): BucketSpec[] => {
    const l = limitsOf(c);
    if (!l) return [];
    const out: BucketSpec[] = [];
    if (l.requests) out.push({ key: `c:${c.id}`, rate: l.requests.requestsPerSecond, burst: l.requests.burst ?? Math.max(1, l.requests.requestsPerSecond) });
    const m = Object.hasOwn(l.models, model) ? l.models[model] : undefined;
    if (m) out.push({ key: `cm:${c.id}:${model}`, rate: m.requestsPerSecond, burst: m.burst ?? Math.max(1, m.requestsPerSecond) });
    return out;
  };
  const judge = (c: EdgeConsumer, model: string, d: RateDecision): MlgateError | undefined => {
    if (d.allowed) return undefined;
    metrics.rateLimited.labels(subjects.label(c.id), model).inc();
    const retry = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
    return withHeaders(GatewayErrors.rateLimited(`rate limit of consumer ${c.id} reached; retry after ${retry} s`, { details: { limit: d.limit, retryAfterMs: d.retryAfterMs } }), {
      'retry-after': String(retry), 'ratelimit-limit': String(d.limit), 'ratelimit-remaining': String(d.remaining), 'ratelimit-reset': String(Math.ceil(d.resetMs / 1000)),
    });
  };

  const authorize = (consumer: Consumer, model: string): MlgateError | undefined | Promise<MlgateError | undefined> => {
    const c = consumer as EdgeConsumer;
    if (!mayCall(c, model)) {
      metrics.authFailures.labels('model_forbidden').inc();
      return GatewayErrors.forbidden(`consumer ${c.id} may not call model ${model}`, { details: { model } });
    }
    const buckets = bucketsOf(c, model);
    if (buckets.length === 0) return undefined;
    if (redis) return redis.take(buckets).then((d) => judge(c, model, d));
    return judge(c, model, local.take(buckets));
  };

  const allowPin = (consumer: Consumer, model: string): boolean => {
    const ok = mayPin(consumer as EdgeConsumer, model);
    if (!ok) metrics.authFailures.labels('pin_forbidden').inc();
    return ok;
  };

  return {
    hooks: {
      resolveConsumer, authorize, allowPin, mayCall: (c, model) => mayCall(c as EdgeConsumer, model), stripRequestHeaders: ['authorization', 'x-api-key'], errorHeaders: refusalHeaders,
      ...(reserveTokens ? { reserveTokens } : {}),
    },
    metrics, consumers: table, close,
  };
}
