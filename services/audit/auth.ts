/**
 * Bearer tokens of the audit API. Each configured token has a name (the actor recorded for an
 * erasure) and a role: `audit` reads; `admin` (the data-protection officer) also erases, hashes
 * payloads and checks erasures (the keyed-hash oracles). Tokens are compared as SHA-256
 * digests in constant time, every configured token every time, so neither a token's length nor
 * its position leaks through timing. Tokens never reach a log.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuditRole } from './config.ts';
import { AuditErrors } from './errors.ts';

/** Who is calling. */
export interface Principal {
  readonly name: string;
  readonly role: AuditRole;
}

/** Resolves an `Authorization` header to a principal. */
export type Authenticator = (authorization: string | undefined) => Principal;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Builds the authenticator for `tokens`. @throws MLG_AUD_UNAUTHORIZED from the authenticator for a missing or unknown token. */
export function createAuthenticator(tokens: ReadonlyArray<{ name: string; token: string; role: AuditRole }>): Authenticator {
  const known = tokens.map((t) => ({ digest: digest(t.token), principal: Object.freeze({ name: t.name, role: t.role }) }));
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw AuditErrors.unauthorized('send Authorization: Bearer <token>');
    const d = digest(m[1]!);
    let found: Principal | undefined;
    for (const k of known) if (timingSafeEqual(k.digest, d) && !found) found = k.principal;
    if (!found) throw AuditErrors.unauthorized('the bearer token is not valid');
    return found;
  };
}

/** Fails with MLG_AUD_FORBIDDEN unless `p` may act as `need` (admin may do what audit does). */
export function authorize(p: Principal, need: AuditRole): void {
  if (need === 'admin' && p.role !== 'admin') {
    throw AuditErrors.forbidden(`this operation needs the admin role; token ${p.name} has the ${p.role} role`, { details: { role: need } });
  }
}
