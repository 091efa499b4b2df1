/**
 * JWT bearer tokens (jose): signature against configured JWKs, a JWKS file or a JWKS URL;
 * expiry, not-before, issuer and audience; the consumer id from a configured claim; scopes
 * from a claim granting models. Only asymmetric algorithms: a gateway holding a shared secret
 * could mint tokens itself.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { EdgeErrors } from './errors.ts';
import { grantOf, type ConsumerTable, type EdgeConsumer } from './consumers.ts';
import type { JwtConfig } from './edge-config.ts';

/** Why a token was refused (the `reason` label of mlgate_gateway_auth_failures_total). */
export type JwtFailure = 'expired' | 'not_yet_valid' | 'bad_signature' | 'unknown_key' | 'bad_claims' | 'malformed' | 'no_consumer' | 'jwks_unavailable';

/** A verified consumer or the reason of a refusal. */
export type JwtResult = { ok: true; consumer: EdgeConsumer } | { ok: false; reason: JwtFailure };

/** Loads the key source at setup; throws MLG_EDGE_SETUP when it cannot. */
function keySource(cfg: JwtConfig): JWTVerifyGetKey {
  if (cfg.jwksUrl) return createRemoteJWKSet(new URL(cfg.jwksUrl), { timeoutDuration: 2000, cooldownDuration: 30_000 });
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
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return (err as { claim?: string }).claim === 'nbf' ? 'not_yet_valid' : 'bad_claims';
    case 'ERR_JWKS_TIMEOUT': case 'ERR_JOSE_GENERIC': return 'jwks_unavailable';
    default: return 'malformed';
  }
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
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.cfg.algorithms, clockTolerance: this.cfg.clockToleranceSec,
        ...(this.cfg.issuer ? { issuer: this.cfg.issuer } : {}), ...(this.cfg.audience ? { audience: this.cfg.audience } : {}),
      }));
    } catch (err) {
      return { ok: false, reason: failureOf(err) };
    }
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
