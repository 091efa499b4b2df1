/**
 * JWT bearer tokens (jose): signature against configured JWKs, a JWKS file or a JWKS URL (https,
 * or http to loopback); a required `exp` no further out than the configured lifetime, `nbf`,
 * `iat`, issuer and audience; the consumer id from a configured claim; scopes from a claim
 * granting models. Only asymmetric algorithms from the configured list: a gateway holding a
 * shared secret could mint tokens itself, and an HMAC keyed with a public key is forgeable.
 * Oversized tokens are refused before any decoding.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { EdgeErrors } from './errors.ts';
import { grantOf, type ConsumerTable, type EdgeConsumer } from './consumers.ts';
import { isLoopbackHost, type JwtConfig } from './edge-config.ts';

/** Why a token was refused (the `reason` label of mlgate_gateway_auth_failures_total). */
export type JwtFailure =
  | 'too_large' | 'malformed' | 'bad_algorithm' | 'bad_signature' | 'unknown_key' | 'jwks_unavailable'
  | 'no_expiry' | 'expired' | 'not_yet_valid' | 'lifetime_too_long' | 'wrong_issuer' | 'wrong_audience' | 'bad_claims' | 'no_consumer';

/** A verified consumer or the reason of a refusal. */
export type JwtResult = { ok: true; consumer: EdgeConsumer } | { ok: false; reason: JwtFailure };

/** Loads the key source at setup; throws MLG_EDGE_SETUP when it cannot. */
function keySource(cfg: JwtConfig): JWTVerifyGetKey {
  if (cfg.jwksUrl) {
    const url = new URL(cfg.jwksUrl);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      throw EdgeErrors.setup('gateway.auth.jwt.jwksUrl must be https:// (http:// only to a loopback host)');
    }
    return createRemoteJWKSet(url, { timeoutDuration: cfg.jwksTimeoutMs, cacheMaxAge: cfg.jwksCacheMaxAgeMs, cooldownDuration: cfg.jwksCooldownMs });
  }
  let jwks: JSONWebKeySet;
  if (cfg.jwksFile) {
    try {
      jwks = JSON.parse(readFileSync(cfg.jwksFile, 'utf8')) as JSONWebKeySet;
    } catch (err) {
      throw EdgeErrors.setup(`gateway.auth.jwt.jwksFile ${cfg.jwksFile} could not be read as a JWKS: ${(err as Error).message}`, { cause: err });
    }
  } else jwks = { keys: (cfg.keys ?? []) as unknown as JSONWebKeySet['keys'] };
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw EdgeErrors.setup('gateway.auth.jwt: the JWKS has no keys');
  for (const k of jwks.keys) {
    if ('d' in k || k.kty === 'oct') throw EdgeErrors.setup('gateway.auth.jwt: only public keys belong here (a JWK has a private or symmetric part)');
  }
  try {
    return createLocalJWKSet(jwks);
  } catch (err) {
    throw EdgeErrors.setup(`gateway.auth.jwt: invalid JWKS: ${(err as Error).message}`, { cause: err });
  }
}

function failureOf(err: unknown): JwtFailure {
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED': return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'bad_signature';
    case 'ERR_JWKS_NO_MATCHING_KEY': case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return 'unknown_key';
    case 'ERR_JOSE_ALG_NOT_ALLOWED': case 'ERR_JOSE_NOT_SUPPORTED': return 'bad_algorithm';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return claimFailure(err as { claim?: string; reason?: string });
    case 'ERR_JWKS_TIMEOUT': case 'ERR_JWKS_INVALID': case 'ERR_JOSE_GENERIC': return 'jwks_unavailable';
    // fetch() of the JWKS URL failing to connect has no jose code.
    default: return err instanceof TypeError && err.message === 'fetch failed' ? 'jwks_unavailable' : 'malformed';
  }
}

function claimFailure(err: { claim?: string; reason?: string }): JwtFailure {
  switch (err.claim) {
    case 'exp': return err.reason === 'missing' ? 'no_expiry' : 'bad_claims';
    case 'nbf': return err.reason === 'check_failed' ? 'not_yet_valid' : 'bad_claims';
    case 'iss': return 'wrong_issuer';
    case 'aud': return 'wrong_audience';
    default: return 'bad_claims';
  }
}

/**
 * The lifetime rule jose has no option for: `exp - iat` (or `exp - now` without `iat`) at most
 * `maxLifetimeSec`, and no `iat` in the future. `exp` is present and numeric (jose checked it).
 */
function lifetimeFailure(payload: JWTPayload, cfg: JwtConfig, nowSec: number): JwtFailure | undefined {
  const exp = payload.exp!;
  const tolerance = cfg.clockToleranceSec;
  if (payload.iat !== undefined && payload.iat > nowSec + tolerance) return 'not_yet_valid';
  const lifetime = payload.iat === undefined ? exp - nowSec - tolerance : exp - payload.iat;
  return lifetime > cfg.maxLifetimeSec ? 'lifetime_too_long' : undefined;
}

function scopesOf(payload: JWTPayload, claim: string): string[] {
  const v = payload[claim];
  if (typeof v === 'string') return v.split(' ').filter(Boolean);
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string');
  return [];
}

/** Verifies tokens and turns their claims into consumers. */
export class JwtVerifier {
  private readonly getKey: JWTVerifyGetKey;

  constructor(private readonly cfg: JwtConfig, private readonly consumers: ConsumerTable) {
    this.getKey = keySource(cfg);
  }

  /** Verifies `token`; never throws. */
  async verify(token: string): Promise<JwtResult> {
    if (token.length > this.cfg.maxTokenBytes) return { ok: false, reason: 'too_large' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.cfg.algorithms, clockTolerance: this.cfg.clockToleranceSec,
        issuer: this.cfg.issuer, audience: this.cfg.audience, requiredClaims: ['exp'],
      }));
    } catch (err) {
      return { ok: false, reason: failureOf(err) };
    }
    const tooLong = lifetimeFailure(payload, this.cfg, Date.now() / 1000);
    if (tooLong) return { ok: false, reason: tooLong };
    const id = payload[this.cfg.consumerClaim];
    if (typeof id !== 'string' || id === '' || id.length > 200) return { ok: false, reason: 'no_consumer' };
    const scopes = scopesOf(payload, this.cfg.scopeClaim);
    const granted: string[] = [];
    for (const s of scopes) granted.push(...(this.cfg.scopes[s] ?? []));
    const known = this.consumers.get(id);
    if (known) {
      if (known.models === '*') granted.push('*');
      else granted.push(...known.models);
    }
    const pinByScope = this.cfg.pinScope !== undefined && scopes.includes(this.cfg.pinScope);
    return {
      ok: true,
      consumer: { id, models: grantOf(granted), pin: pinByScope || (known?.pin ?? false), limits: known?.limits, via: 'jwt' },
    };
  }
}
