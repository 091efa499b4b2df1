/**
 * Bearer tokens of the audit API. Each configured token has a name (the actor recorded for an
 * erasure) and a role: `audit` reads; `admin` (the data-protection officer) also erases, hashes
 * payloads and checks erasures (the keyed-hash oracles). The comparison (SHA-256 digests in
 * constant time, every token every time) is the control-plane APIs' one, in
 * services/core/control-api.ts; tokens never reach a log.
 */
import { bearerAuthenticator, requireRole, type Principal } from '../core/control-api.ts';
import type { AuditRole } from './config.ts';
import { AuditErrors } from './errors.ts';

export type { Principal };

/** The audit roles, lowest first: admin may do what audit does. */
export const AUDIT_ROLES: readonly AuditRole[] = ['audit', 'admin'];

/** Resolves an `Authorization` header to a principal. */
export type Authenticator = (authorization: string | undefined) => Principal<AuditRole>;

/** Builds the authenticator for `tokens`. @throws MLG_AUD_UNAUTHORIZED from the authenticator for a missing or unknown token. */
export function createAuthenticator(tokens: ReadonlyArray<{ name: string; token: string; role: AuditRole }>): Authenticator {
  return bearerAuthenticator(tokens, AuditErrors.unauthorized);
}

/** Fails with MLG_AUD_FORBIDDEN unless `p` may act as `need` (admin may do what audit does). */
export function authorize(p: Principal<AuditRole>, need: AuditRole): void {
  requireRole(p, need, AUDIT_ROLES, AuditErrors.forbidden);
}
