/**
 * Config schema pieces of the gateway edge: consumers with their keys, models, pinning and
 * limits; JWT verification; rate-limit store; token budgets; TLS for the listener and for upstreams; per-model
 * input schemas and per-version response caches. Every piece is optional: a config without them
 * parses as before and the gateway serves anonymous consumer ''. All defaults live here.
 */
import { z } from 'zod';
import { API_KEY_HASH_PATTERN } from './api-keys.ts';

const Name = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'expected a name of letters, digits, ".", "_" or "-" (at most 100)');
const FilePath = z.string().min(1).max(4096);
const Ms = z.number().int().positive().max(86_400_000);

/** A consumer id (its key in `consumers`). */
export const ConsumerIdSchema = Name;

/** A token bucket: `requestsPerSecond` refill, up to `burst` requests at once. */
export const LimitSchema = z.strictObject({
  requestsPerSecond: z.number().positive().max(1_000_000),
  /** Bucket size; default max(1, requestsPerSecond). */
  burst: z.number().int().min(1).max(10_000_000).optional(),
});

/** Limits of one consumer: overall and per model. */
export const ConsumerLimitsSchema = z.strictObject({
  /** One bucket for all the consumer's requests. */
  requests: LimitSchema.optional(),
  /** One bucket per model (consumer+model). */
  models: z.record(Name, LimitSchema).default({}),
});

/** One consumer; its id is its key in `consumers`. */
export const ConsumerSchema = z.strictObject({
  /** API key hashes made by `mlgate keys` (`sha256:<key id>:<64 hex>`); never the keys. */
  keys: z.array(z.string().regex(API_KEY_HASH_PATTERN, 'expected an API key hash from `mlgate keys` (sha256:<id>:<64 hex>)')).max(100).default([]),
  /** Models it may call; `*` = every model. */
  models: z.array(z.union([Name, z.literal('*')])).default([]),
  /** May it pin a version with x-mlgate-version: true, false, or a list of models. */
  pin: z.union([z.boolean(), z.array(Name)]).default(false),
  limits: ConsumerLimitsSchema.optional(),
});

/** True for hosts a plain-http JWKS URL may name: localhost, 127.0.0.0/8 and ::1 (local test IdPs). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Text of a required field's message when it is absent, else zod's own. */
const required = (what: string) => (iss: { input: unknown }) => (iss.input === undefined ? `required: ${what}` : undefined);

/**
 * A JWKS URL: https, or http to a loopback host only (a JWKS fetched in clear text could be
 * swapped by anyone on the path, who would then sign tokens of their own).
 */
const JwksUrl = z.url({ protocol: /^https?$/, error: 'expected an https:// URL' }).refine(
  (u) => { const url = new URL(u); return url.protocol === 'https:' || isLoopbackHost(url.hostname); },
  'must be https:// (http:// only to localhost, 127.0.0.0/8 or ::1)',
);

/** Asymmetric JWS algorithms only: no `none`, no HS* (an HMAC keyed with a public key is forgeable). */
const JwsAlgorithm = z.string().regex(/^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/, 'expected an asymmetric JWS algorithm (RS*, PS*, ES*, EdDSA, Ed25519)');

/**
 * JWT bearer tokens. One key source is required: `keys`, `jwksFile` or `jwksUrl`; `issuer` and
 * `audience` are required, and every token must carry `exp` no further than `maxLifetimeSec` out.
 */
export const JwtSchema = z
  .strictObject({
    /** Public keys as JWKs (a JWKS's `keys`). */
    keys: z.array(z.record(z.string(), z.unknown())).optional(),
    /** A JWKS JSON file, read at start. */
    jwksFile: FilePath.optional(),
    /** A JWKS URL (https; http to loopback only), fetched by `jose` and cached. */
    jwksUrl: JwksUrl.optional(),
    /** The `iss` every token must carry. */
    issuer: z.string({ error: required('the issuer (iss) every token must carry') }).min(1),
    /** The `aud` every token must carry (one of these when a list). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: required('the audience (aud) every token must carry') }),
    /** Algorithms accepted (a token's `alg` must be one of them). */
    algorithms: z.array(JwsAlgorithm).min(1).default(['RS256', 'ES256', 'EdDSA']),
    /** Claim holding the consumer id. */
    consumerClaim: z.string().min(1).default('sub'),
    /** Claim holding scopes (space-separated string or array). */
    scopeClaim: z.string().min(1).default('scope'),
    /** Scope -> models it grants (`*` = all). */
    scopes: z.record(z.string().min(1), z.array(z.union([Name, z.literal('*')]))).default({}),
    /** Scope that lets the holder pin versions of the models it may call. */
    pinScope: z.string().min(1).optional(),
    /** Leeway for `exp`, `nbf` and `iat` against this gateway's clock. */
    clockToleranceSec: z.number().int().min(0).max(300).default(30),
    /**
     * Longest a token may live: `exp - iat`, or `exp - now` when it has no `iat` (Envoy's
     * `max_lifetime`, Kong's `maximum_expiration`). A longer-lived token is refused.
     */
    maxLifetimeSec: z.number().int().min(1).max(31_536_000).default(86_400),
    /** Larger tokens are refused before any decoding. */
    maxTokenBytes: z.number().int().min(256).max(65_536).default(8192),
    /** Longest wait for the JWKS URL. */
    jwksTimeoutMs: Ms.default(2000),
    /** How long a fetched JWKS is used before it is fetched again. */
    jwksCacheMaxAgeMs: Ms.default(600_000),
    /** Least time between two fetches when a token names an unknown key (a flood of made-up kids fetches once). */
    jwksCooldownMs: Ms.default(30_000),
  })
  .superRefine((j, ctx) => {
    const n = [j.keys, j.jwksFile, j.jwksUrl].filter((x) => x !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of keys, jwksFile or jwksUrl' });
  });

/** How callers prove who they are. */
export const AuthSchema = z.strictObject({
  /** Accept API keys (Authorization: Bearer or x-api-key). */
  apiKeys: z.boolean().default(true),
  jwt: JwtSchema.optional(),
});

/** Where token buckets live. */
export const RateLimitsSchema = z
  .strictObject({
    store: z.enum(['local', 'redis']).default('local'),
    /** redis://host:port/db, for `store: redis`. */
    redisUrl: z.string().regex(/^rediss?:\/\//, 'expected a redis:// URL').optional(),
    /** Prefix of the Redis keys (separate deployments sharing one Redis). */
    keyPrefix: z.string().max(100).default('mlgate:rl:'),
    /** Longest wait for Redis before the request is let through (counted, logged). */
    redisTimeoutMs: Ms.default(200),
    /** Limits of consumers that set none (e.g. JWT consumers not listed in `consumers`). */
    default: ConsumerLimitsSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.store === 'redis' && !r.redisUrl) ctx.addIssue({ code: 'custom', path: ['redisUrl'], message: 'required when store is redis' });
  });

/** A tokens-per-minute budget: refills `tokensPerMinute` evenly, holds up to `burst` tokens. */
export const TokenLimitSchema = z.strictObject({
  tokensPerMinute: z.number({ error: required('tokensPerMinute, the tokens a minute refills') })
    .int('tokensPerMinute must be a whole number of tokens').positive('tokensPerMinute must be at least 1').max(1e12, 'tokensPerMinute must be at most 1e12'),
  /** Bucket size; default tokensPerMinute (one minute's worth). */
  burst: z.number().int('burst must be a whole number of tokens').min(1, 'burst must be at least 1').max(1e12, 'burst must be at most 1e12').optional(),
});

/**
 * Token budgets of LLM requests (the OpenAI routes): tokens per minute per consumer and per model,
 * in the store `rateLimits` names (local, or Redis shared by every gateway). A request reserves
 * its estimated input tokens plus its output allowance against every budget that applies, all or
 * none; the real usage settles it after the answer (docs/llm.md, "Token budgets").
 */
export const TokenBudgetsSchema = z.strictObject({
  /** Per consumer: `default` for every consumer (anonymous '' included), `overrides` by consumer id. */
  consumers: z.strictObject({
    default: TokenLimitSchema.optional(),
    overrides: z.record(ConsumerIdSchema, TokenLimitSchema).default({}),
  }).optional(),
  /** Per model (its public name): one budget shared by all its callers. */
  models: z.record(Name, TokenLimitSchema).default({}),
  /** Tokens reserved for the answer of a chat or completion request that sets neither max_completion_tokens nor max_tokens. */
  defaultOutputTokens: z.number().int('defaultOutputTokens must be a whole number of tokens').min(0, 'defaultOutputTokens must be 0 or more').max(10_000_000, 'defaultOutputTokens must be at most 10000000').default(256),
  /**
   * Most output tokens one request reserves, whatever its max_tokens and n ask: a client cannot
   * take a shared model budget for everyone by asking for a billion tokens. What it really uses
   * is still charged when it ends.
   */
  maxReservedOutputTokens: z.number().int('maxReservedOutputTokens must be a whole number of tokens').min(1, 'maxReservedOutputTokens must be at least 1').max(10_000_000, 'maxReservedOutputTokens must be at most 10000000').default(16_384),
});

/** Certificate and key for the HTTPS listener. */
export const ServerTlsSchema = z.strictObject({
  cert: FilePath,
  key: FilePath,
});

/** TLS towards an https:// upstream. */
export const UpstreamTlsSchema = z
  .strictObject({
    /** CA bundle (PEM file) trusted for the upstream's certificate, instead of the system CAs. */
    ca: FilePath.optional(),
    /** Client certificate and key (PEM files) for mutual TLS. */
    cert: FilePath.optional(),
    key: FilePath.optional(),
    /** Name checked against the certificate (SNI), when it differs from the URL's host. */
    servername: z.string().min(1).max(255).optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.cert === undefined) !== (t.key === undefined)) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'cert and key go together' });
  });

/** Response cache of one version. */
export const CacheSchema = z.strictObject({
  enabled: z.boolean().default(true),
  ttlMs: Ms.default(60_000),
  maxEntries: z.number().int().min(1).max(10_000_000).default(10_000),
  /** Bound on the bytes of all cached bodies of the version. */
  maxBytes: z.number().int().min(1).max(8 * 2 ** 30).default(64 << 20),
  /** Larger responses are not cached. */
  maxEntryBytes: z.number().int().min(1).max(64 << 20).default(256 << 10),
});

/** A JSON Schema object (draft 2020-12 / 07 as ajv accepts it), or a file holding one. */
export const InputSchemaSchema = z.union([z.strictObject({ file: FilePath }), z.record(z.string(), z.unknown())]);

/** Parsed consumer. */
export type ConsumerConfig = z.output<typeof ConsumerSchema>;
/** Parsed consumer limits. */
export type ConsumerLimits = z.output<typeof ConsumerLimitsSchema>;
/** Parsed bucket. */
export type LimitConfig = z.output<typeof LimitSchema>;
/** Parsed auth section. */
export type AuthConfig = z.output<typeof AuthSchema>;
/** Parsed JWT settings. */
export type JwtConfig = z.output<typeof JwtSchema>;
/** Parsed rate-limit section. */
export type RateLimitsConfig = z.output<typeof RateLimitsSchema>;
/** Parsed token budgets. */
export type TokenBudgetsConfig = z.output<typeof TokenBudgetsSchema>;
/** Parsed tokens-per-minute budget. */
export type TokenLimitConfig = z.output<typeof TokenLimitSchema>;
/** Parsed listener TLS. */
export type ServerTlsConfig = z.output<typeof ServerTlsSchema>;
/** Parsed upstream TLS. */
export type UpstreamTlsConfig = z.output<typeof UpstreamTlsSchema>;
/** Parsed cache settings. */
export type CacheConfig = z.output<typeof CacheSchema>;
