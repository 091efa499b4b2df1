/**
 * The `gateway:` section of the config file: listeners, admin API, tracing, and the models with
 * their versions, upstream targets, traffic weights and policies. All defaults live here.
 * `GatewaySection` is a zod schema; `GatewayConfig` is its parsed, defaulted output.
 *
 * Composition: the CLI command validates the whole file with `gateway` (this), `telemetry`
 * (services/telemetry/config.ts), `kafka` and `log` (services/core/config.ts) and `dataDir`.
 */
import { z } from 'zod';
import { NAME_PATTERN, WEIGHT_SUM_TOLERANCE } from '../routing/state.ts';
import { AuthSchema, CacheSchema, ConsumerSchema, InputSchemaSchema, RateLimitsSchema, ServerTlsSchema, TokenBudgetsSchema, UpstreamTlsSchema } from './edge/edge-config.ts';
import { parseMaskPath } from '../telemetry/json-path.ts';
import { CredentialsSchema } from './proxy/credentials.ts';
import { PROVIDER_NAMES } from './proxy/providers/names.ts';

const Name = z.string().regex(NAME_PATTERN, 'expected a name of letters, digits, ".", "_" or "-" (at most 100)');
const Ms = z.number().int().positive().max(3_600_000);
const Port = z.number().int().min(0).max(65535);
const Path = z.string().regex(/^\/[^\s?#]*$/, 'expected an absolute path such as /healthz');
/** A JSON path into a response: dot form with indices (`predictions.0.label`, `$.a[0].b`). */
const JsonPath = z.string().min(1).max(200).regex(/^(\$\.?)?[^\s]+$/, 'expected a JSON path such as predictions.0.label');

const UpstreamUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username;
  } catch {
    return false;
  }
}, 'expected an http(s) URL without query, fragment or credentials, e.g. http://10.0.0.5:8000');

/** One upstream target of a version; a plain URL string means weight 1. */
export const TargetSchema = z.preprocess(
  (t) => (typeof t === 'string' ? { url: t } : t),
  z.strictObject({ url: UpstreamUrl, weight: z.number().int().min(1).max(1000).default(1) }),
);

/** How requests spread over a version's targets. */
export const BALANCE_STRATEGIES = ['round_robin', 'least_outstanding', 'weighted'] as const;

/** Per-version circuit breaker (rolling window of errors and timeouts, half-open probes). */
export const BreakerSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Length of the rolling window. */
  windowMs: Ms.default(10_000),
  /** Buckets the window is split into (the window rolls one bucket at a time). */
  buckets: z.number().int().min(1).max(600).default(10),
  /** Fewest requests in the window before the failure ratio is judged. */
  minRequests: z.number().int().min(1).default(20),
  /** Failure share (errors, timeouts, 5xx) at or above which the breaker opens. */
  failureRatio: z.number().gt(0).max(1).default(0.5),
  /** How long it stays open before letting probes through (half-open). */
  openMs: Ms.default(5_000),
  /** Probe requests allowed at once while half-open; this many successes close it. */
  halfOpenProbes: z.number().int().min(1).max(100).default(2),
});

/** Active health checks of each target. Absent = passive ejection only. */
export const HealthSchema = z.strictObject({
  path: Path.default('/healthz'),
  intervalMs: Ms.default(5_000),
  timeoutMs: Ms.default(1_000),
  /** Failed checks in a row that mark a target unhealthy. */
  unhealthyThreshold: z.number().int().min(1).max(100).default(2),
  /** Passed checks in a row that mark it healthy again. */
  healthyThreshold: z.number().int().min(1).max(100).default(1),
});

/** Passive ejection: a target failing this many requests in a row sits out for `ejectMs`. */
export const EjectionSchema = z.strictObject({
  /** 0 disables passive ejection. */
  consecutiveFailures: z.number().int().min(0).max(1000).default(5),
  ejectMs: Ms.default(10_000),
});

/** One version of a model. */
export const VersionSchema = z.strictObject({
  targets: z.array(TargetSchema).min(1, 'a version needs at least one target').max(256),
  balance: z.enum(BALANCE_STRATEGIES).default('round_robin'),
  /** Time allowed until the upstream's response headers; past it the client gets 504. */
  timeoutMs: Ms.default(30_000),
  connectTimeoutMs: Ms.default(5_000),
  /** Longest silence between two body chunks of a (streamed) response. */
  streamIdleTimeoutMs: Ms.default(60_000),
  /** Extra attempts on other targets after a connection error (never after a response or a timeout). */
  retries: z.number().int().min(0).max(5).default(1),
  /** Connections per target. */
  connections: z.number().int().min(1).max(4096).default(128),
  breaker: BreakerSchema.prefault({}),
  health: HealthSchema.optional(),
  ejection: EjectionSchema.prefault({}),
  /** Response cache of this version (opt-in; see docs/edge.md). */
  cache: CacheSchema.optional(),
  /** TLS towards https:// targets: CA bundle, client certificate. */
  tls: UpstreamTlsSchema.optional(),
  /**
   * Headers sent to this version's upstream, each read from an environment variable or a file at
   * start and on reload (`{ authorization: { env: OPENAI_API_KEY, prefix: "Bearer " } }`). The
   * client's own credential headers are then never forwarded. See docs/llm.md.
   */
  credentials: CredentialsSchema.optional(),
  /** The `model` this version's upstream gets on the OpenAI routes; events keep the public name. */
  upstreamModel: z.string().min(1).max(200).regex(/^[\x20-\x7e]+$/, 'expected printable ASCII').optional(),
  /**
   * On an OpenAI stream whose client did not ask for `stream_options.include_usage`, ask the
   * upstream for it (so the event has tokens) and strip the usage from what the client gets.
   * Turn off for an upstream that refuses `stream_options`.
   */
  streamUsage: z.boolean().default(true),
  /**
   * What this version's upstream charges, in USD per million tokens: each event on an LLM route
   * then carries its `cost_usd` (input and output tokens at these prices; 0 on a cache hit).
   */
  pricePerMillionTokens: z.strictObject({
    // At most a million USD per million tokens: with token counts below 2^32 every cost is finite.
    input: z.number().nonnegative().max(1_000_000),
    output: z.number().nonnegative().max(1_000_000),
  }).optional(),
  /**
   * The API this version's upstream speaks: `openai` (OpenAI-compatible, relayed as it comes) or
   * `anthropic` (Messages API: chat completions are translated both ways). See docs/llm.md.
   */
  provider: z.enum(PROVIDER_NAMES).default('openai'),
});

/** Sticky routing: `none`, the consumer id, or the value of a named request header. */
export const StickySchema = z
  .union([z.enum(['none', 'consumer']), z.strictObject({ header: z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'expected a header name') })])
  .transform((s) => (typeof s === 'string' ? (s === 'none' ? { kind: 'none' as const } : { kind: 'consumer' as const })
    : { kind: 'header' as const, header: s.header.toLowerCase() }));

const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'expected a header name').transform((h) => h.toLowerCase());

/** Upstream response headers clients never see unless a model's list lets them through. */
export const DEFAULT_DENIED_RESPONSE_HEADERS = ['set-cookie', 'server', 'x-powered-by'] as const;

/**
 * Which upstream response headers reach the client: `{ deny: [...] }` drops the names listed,
 * `{ allow: [...] }` drops every other name (`content-type`, `content-length` and
 * `content-encoding` always pass: they describe the body). Hop-by-hop headers, headers the
 * upstream names in `Connection` and the gateway's own `x-mlgate-*` never pass.
 */
export const ResponseHeadersSchema = z
  .union([z.strictObject({ deny: z.array(HeaderName).max(200) }), z.strictObject({ allow: z.array(HeaderName).max(200) })])
  .transform((r) => ('allow' in r ? { mode: 'allow' as const, names: r.allow } : { mode: 'deny' as const, names: r.deny }));

/** One model. */
export const ModelSchema = z
  .strictObject({
    versions: z.record(Name, VersionSchema).refine((v) => Object.keys(v).length > 0, 'a model needs at least one version'),
    /** Traffic share per version in percent (sum 100). May be omitted when there is one version. */
    weights: z.record(Name, z.number().finite().min(0).max(100)).optional(),
    /** Version that takes the share of a tripped, open or unhealthy version. */
    fallback: Name.optional(),
    sticky: StickySchema.prefault('none'),
    /** A copy of `percent`% of requests goes to `version`; its answer is discarded. */
    shadow: z.strictObject({ version: Name, percent: z.number().min(0).max(100) }).optional(),
    /** Body limit for this model; at most `gateway.maxBodyBytes`. */
    maxBodyBytes: z.number().int().positive().optional(),
    /** Where the prediction's label and score are in a JSON response. */
    prediction: z.strictObject({ label: JsonPath.optional(), score: JsonPath.optional() }).optional(),
    /** JSON Schema request bodies must match (400 MLG_EDGE_SCHEMA_INVALID otherwise). */
    inputSchema: InputSchemaSchema.optional(),
    /** Upstream response headers let through; absent = `gateway.responseHeaders`. */
    responseHeaders: ResponseHeadersSchema.optional(),
    redaction: z.strictObject({
      /** false = the event keeps no input text at all (hashes only). */
      storeInput: z.boolean().default(true),
      /** JSON paths of the request masked before redaction (dot form, `*` = any key or index). */
      maskPaths: z.array(z.string().min(1).max(200).superRefine((p, ctx) => {
        try { parseMaskPath(p, 'maskPaths'); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); }
      })).default([]),
    }).prefault({}),
  })
  .superRefine((m, ctx) => {
    const names = Object.keys(m.versions);
    if (!m.weights) {
      if (names.length > 1) ctx.addIssue({ code: 'custom', path: ['weights'], message: 'weights are required when a model has more than one version' });
    } else {
      let sum = 0;
      for (const [v, w] of Object.entries(m.weights)) {
        if (!Object.hasOwn(m.versions, v)) ctx.addIssue({ code: 'custom', path: ['weights', v], message: `${v} is not a version of this model` });
        sum += w;
      }
      if (Math.abs(sum - 100) > WEIGHT_SUM_TOLERANCE) ctx.addIssue({ code: 'custom', path: ['weights'], message: `weights must sum to 100, got ${sum}` });
    }
    if (m.fallback !== undefined && !Object.hasOwn(m.versions, m.fallback)) {
      ctx.addIssue({ code: 'custom', path: ['fallback'], message: `${m.fallback} is not a version of this model` });
    }
    if (m.shadow && !Object.hasOwn(m.versions, m.shadow.version)) {
      ctx.addIssue({ code: 'custom', path: ['shadow', 'version'], message: `${m.shadow.version} is not a version of this model` });
    }
  });

/** Actor names: what admin changes record as `actor`. */
const ACTOR_PATTERN = /^[A-Za-z0-9._@:+-]{1,100}$/;
/** The actor recorded for changes made with the single `admin.token`. */
export const DEFAULT_ADMIN_ACTOR = 'admin';
const AdminToken = z.string().min(16, 'the admin token must be at least 16 characters').max(512);

/** Admin API listener. */
export const AdminSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('127.0.0.1'),
  port: Port.default(8081),
  /** Bearer token for the admin routes (at least 16 characters); its changes are recorded as actor `admin`. Set it with MLGATE_ADMIN_TOKEN. */
  token: AdminToken.optional(),
  /** Named bearer tokens: a change made with one is recorded with its name as the actor. */
  tokens: z.array(z.strictObject({
    name: z.string().regex(ACTOR_PATTERN, 'expected 1-100 letters, digits or ._@:+-'),
    token: AdminToken,
  })).max(1000).default([]),
  /** Require the token for GET /metrics too (default: metrics are open on the admin port). */
  metricsRequireToken: z.boolean().default(false),
}).superRefine((a, ctx) => {
  const names = new Map<string, number | 'token'>(a.token !== undefined ? [[DEFAULT_ADMIN_ACTOR, 'token']] : []);
  const secrets = new Map<string, number | 'token'>(a.token !== undefined ? [[a.token, 'token']] : []);
  a.tokens.forEach((t, i) => {
    const n = names.get(t.name);
    if (n !== undefined) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: n === 'token' ? `${DEFAULT_ADMIN_ACTOR} is the actor of admin.token` : `same name as tokens.${n}` });
    const s = secrets.get(t.token);
    if (s !== undefined) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'token'], message: s === 'token' ? 'same token as admin.token' : `same token as tokens.${s}` });
    names.set(t.name, i);
    secrets.set(t.token, i);
  });
});

/**
 * The data plane listener's limits against slow, idle or too many clients. Node answers 408 and
 * closes a connection whose headers (or whole request) did not arrive in time; connections above
 * `maxConnections` are closed as they are accepted.
 */
export const ListenerSchema = z.strictObject({
  /** Time from the connection (or the end of the previous request) to the end of the request headers. */
  headersTimeoutMs: Ms.default(10_000),
  /** Time to receive the whole request, headers and body; not the time the upstream takes to answer. */
  requestTimeoutMs: Ms.default(30_000),
  /**
   * How long an idle keep-alive connection stays open. Above the 60 s idle timeout of common load
   * balancers, so the gateway is not the side that closes a connection one is about to reuse.
   */
  keepAliveTimeoutMs: Ms.default(65_000),
  /** Most open client connections; more are closed on accept. */
  maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Most requests served on one keep-alive connection (0 = no limit). */
  maxRequestsPerSocket: z.number().int().min(0).max(1_000_000).default(0),
}).refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, { path: ['headersTimeoutMs'], message: 'must not exceed requestTimeoutMs' });

/** Tracing (OpenTelemetry, no auto-instrumentation). */
export const TracingSchema = z.strictObject({
  /** `none` still propagates trace ids upstream and into events; it exports no spans. */
  exporter: z.enum(['none', 'console', 'otlp']).default('none'),
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces. */
  otlpUrl: UpstreamUrl.optional(),
  /** Share of requests without a sampled parent that get a span. A parent's sampled flag wins. */
  sampleRatio: z.number().min(0).max(1).default(0.01),
  serviceName: z.string().min(1).default('mlgate-gateway'),
});

/** Most gateway worker processes. */
export const MAX_WORKERS = 64;

/** `gateway.workers`: a count from 1 to {@link MAX_WORKERS}, or `auto` (resolved at start by {@link workerCount}). */
export const WorkersSchema = z.union([
  z.number().int('expected a whole number of workers or auto').min(1, 'expected at least 1 worker (or auto)').max(MAX_WORKERS, `expected at most ${MAX_WORKERS} workers`),
  z.literal('auto'),
], { error: () => `expected a positive number of workers (1-${MAX_WORKERS}) or auto` });

/**
 * Whether a gateway process builds its events in a worker thread: `auto` when the host has more
 * cores than gateway processes, so the worker thread has a core the event loops do not use.
 */
export function eventWorkerOn(setting: boolean | 'auto', workers: number | 'auto', cores: number): boolean {
  return setting === 'auto' ? cores > workerCount(workers, cores) : setting;
}

/** The number of gateway processes `gateway.workers` asks for on this host (`auto` = the cores available, at most {@link MAX_WORKERS}). */
export function workerCount(workers: number | 'auto', cores: number): number {
  return workers === 'auto' ? Math.max(1, Math.min(MAX_WORKERS, cores)) : workers;
}

/** Schema of the `gateway:` section. */
export const GatewaySection = z
  .strictObject({
    /** Gateway id in events and metrics; '' = `<hostname>-<pid>`. */
    id: z.string().max(200).default(''),
    host: z.string().min(1).default('127.0.0.1'),
    port: Port.default(8080),
    /**
     * Gateway processes sharing `port` (node:cluster): a positive integer, or `auto` for one per
     * available core. 1 (the default) runs no cluster at all. See docs/gateway.md, "Workers".
     */
    workers: WorkersSchema.default(1),
    /** Timeouts and connection cap of the data plane listener. */
    listener: ListenerSchema.prefault({}),
    /** Upstream response headers let through (per model: `models.<m>.responseHeaders`). */
    responseHeaders: ResponseHeadersSchema.prefault({ deny: [...DEFAULT_DENIED_RESPONSE_HEADERS] }),
    /** Largest request body accepted by any model (413 above). */
    maxBodyBytes: z.number().int().positive().max(1 << 30).default(1 << 20),
    /** On shutdown, how long in-flight requests may take to finish. */
    shutdownTimeoutMs: Ms.default(10_000),
    admin: AdminSchema.prefault({}),
    tracing: TracingSchema.prefault({}),
    /** Most response bytes kept (off the client path) to hash the output and read usage. */
    captureMaxBytes: z.number().int().min(0).max(64 << 20).default(1 << 20),
    /**
     * Build telemetry events (hashes, redaction) in a worker thread instead of the event loop:
     * `auto` (default) when the host has more cores than gateway processes ({@link eventWorkerOn}).
     * Pays off only with a spare core: it costs more CPU in total (see docs/gateway.md).
     */
    eventWorker: z.union([z.boolean(), z.literal('auto')], { error: () => 'expected true, false or auto' }).default('auto'),
    /** Most shadow copies in flight at once; more are skipped (and counted). */
    shadowMaxInFlight: z.number().int().min(1).max(100_000).default(256),
    /** Known consumers by id (edge; absent = anonymous consumer ''). */
    consumers: z.record(Name, ConsumerSchema).optional(),
    /** How consumers authenticate; present (or consumers present) = every request needs a credential. */
    auth: AuthSchema.optional(),
    rateLimits: RateLimitsSchema.optional(),
    /** Tokens-per-minute budgets of LLM requests, in the `rateLimits` store (docs/llm.md, "Token budgets"). */
    tokenBudgets: TokenBudgetsSchema.optional(),
    /** Serve HTTPS with this certificate and key. */
    tls: ServerTlsSchema.optional(),
    models: z.record(Name, ModelSchema).refine((m) => Object.keys(m).length > 0, 'at least one model is required'),
  })
  .superRefine((g, ctx) => {
    if (g.admin.enabled && !g.admin.token && g.admin.tokens.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'token'], message: 'required when the admin API is enabled and admin.tokens is empty (set MLGATE_ADMIN_TOKEN)' });
    }
    if (g.tracing.exporter === 'otlp' && !g.tracing.otlpUrl) {
      ctx.addIssue({ code: 'custom', path: ['tracing', 'otlpUrl'], message: 'required when tracing.exporter is otlp' });
    }
    for (const name of Object.keys(g.tokenBudgets?.models ?? {})) {
      if (!Object.hasOwn(g.models, name)) ctx.addIssue({ code: 'custom', path: ['tokenBudgets', 'models', name], message: `${name} is not a model of this gateway` });
    }
    for (const [name, m] of Object.entries(g.models)) {
      if (m.maxBodyBytes !== undefined && m.maxBodyBytes > g.maxBodyBytes) {
        ctx.addIssue({ code: 'custom', path: ['models', name, 'maxBodyBytes'], message: `must not exceed gateway.maxBodyBytes (${g.maxBodyBytes})` });
      }
    }
  })
  // Each model carries the response-header list it uses, so the relay needs only the model.
  .transform((g) => {
    const models: Record<string, z.output<typeof ModelSchema>> = {};
    for (const [name, m] of Object.entries(g.models)) models[name] = m.responseHeaders ? m : { ...m, responseHeaders: g.responseHeaders };
    return { ...g, models };
  });

/** Parsed `gateway:` section. */
export type GatewayConfig = z.output<typeof GatewaySection>;
/** One parsed model. */
export type ModelConfig = z.output<typeof ModelSchema>;
/** One parsed version. */
export type VersionConfig = z.output<typeof VersionSchema>;
/** Parsed breaker settings. */
export type BreakerConfig = z.output<typeof BreakerSchema>;
/** Parsed health-check settings. */
export type HealthConfig = z.output<typeof HealthSchema>;
/** Parsed response-header list. */
export type ResponseHeadersConfig = z.output<typeof ResponseHeadersSchema>;
/** Parsed listener limits. */
export type ListenerConfig = z.output<typeof ListenerSchema>;
/** Parsed sticky setting. */
export type StickyConfig = z.output<typeof StickySchema>;

/** The weights a model's config declares (a single version gets 100). */
export function configuredWeights(m: ModelConfig): Record<string, number> {
  if (m.weights) {
    const out: Record<string, number> = {};
    for (const v of Object.keys(m.versions)) out[v] = Object.hasOwn(m.weights, v) ? m.weights[v]! : 0;
    return out;
  }
  const [only] = Object.keys(m.versions);
  return { [only!]: 100 };
}
