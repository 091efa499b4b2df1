/**
 * Upstream credentials of a version: request headers whose values the gateway reads from an
 * environment variable or a file (a mounted secret), at start and on every reload. The config
 * holds only the references; the values live in the version's {@link VersionUpstream} and go
 * nowhere else (not in logs, events, metrics, error bodies, the admin API or a config dump).
 *
 * When a version has credentials, the client's own credential headers never reach its upstream:
 * they are dropped and the configured ones set (whether or not the gateway authenticates the
 * client; with client auth on, the edge drops them anyway).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { GatewayErrors } from '../errors.ts';

/** Request headers that carry a client's credential to an OpenAI-style upstream. */
export const CLIENT_CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'x-api-key', 'api-key', 'proxy-authorization'];

/** Headers a credential may not set: the gateway or HTTP itself owns them. */
const RESERVED = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'traceparent', 'tracestate', 'x-forwarded-for']);

/** A header name a credential may set (lower case, not one the gateway owns). */
export const CredentialHeader = z.string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'expected a header name')
  .refine((h) => !RESERVED.has(h.toLowerCase()) && !h.toLowerCase().startsWith('x-mlgate-'), 'this header is set by the gateway, not by a credential');

/** Where one header's value comes from. Exactly one of `env` and `file`. */
export const CredentialRefSchema = z.strictObject({
  /** Name of an environment variable holding the value. */
  env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,200}$/, 'expected an environment variable name').optional(),
  /** Path of a file holding the value (surrounding white space, e.g. a final newline, is trimmed). */
  file: z.string().min(1).max(4096).optional(),
  /** Text put before the value, e.g. `"Bearer "` for an Authorization header. */
  prefix: z.string().max(100).regex(/^[\x20-\x7e]*$/, 'expected printable ASCII').default(''),
}).refine((c) => (c.env === undefined) !== (c.file === undefined), 'give exactly one of env and file');

/** Credential references of a version, by header name. */
export const CredentialsSchema = z.record(CredentialHeader, CredentialRefSchema)
  .refine((r) => new Set(Object.keys(r).map((k) => k.toLowerCase())).size === Object.keys(r).length, 'a header is named twice (header names ignore case)');

/** Parsed credential references. */
export type CredentialsConfig = z.output<typeof CredentialsSchema>;

/** Resolved headers, lower-case names. */
export type ResolvedCredentials = Readonly<Record<string, string>>;

/** Header values HTTP can carry (visible ASCII, spaces and tabs inside). */
const HEADER_VALUE = /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/;

/**
 * Reads every referenced value. `where` names the config field in errors
 * (`gateway.models.chat.versions.v1.credentials`).
 * @throws MLG_GW_CREDENTIAL_UNRESOLVED naming the field and the variable or path, never the value.
 */
export function resolveCredentials(cfg: CredentialsConfig | undefined, where: string, env: NodeJS.ProcessEnv = process.env): ResolvedCredentials | undefined {
  if (!cfg) return undefined;
  const out: Record<string, string> = {};
  for (const [header, ref] of Object.entries(cfg)) {
    let raw: string | undefined;
    let field: string;
    if (ref.env !== undefined) {
      field = `${where}.${header}.env`;
      raw = env[ref.env];
      if (raw === undefined) throw unresolved(`${field}: the environment variable ${ref.env} is not set`, field);
    } else {
      field = `${where}.${header}.file`;
      try {
        raw = readFileSync(ref.file!, 'utf8');
      } catch (err) {
        throw unresolved(`${field}: cannot read ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, field, err);
      }
    }
    const value = raw.trim();
    const source = ref.env !== undefined ? `environment variable ${ref.env}` : `file ${ref.file}`;
    if (value === '') throw unresolved(`${field}: the ${source} is empty`, field);
    // Checked without echoing the value: it is a secret.
    if (!HEADER_VALUE.test(value)) throw unresolved(`${field}: the ${source} holds characters a header cannot carry (line breaks or control characters)`, field);
    out[header.toLowerCase()] = ref.prefix + value;
  }
  return Object.freeze(out);
}

function unresolved(message: string, field: string, cause?: unknown): Error {
  return GatewayErrors.credentialUnresolved(message, { details: { field }, ...(cause !== undefined ? { cause } : {}) });
}

/**
 * The request headers for an upstream that has credentials: a copy of `headers` without the
 * client's credential headers, with the configured ones set.
 */
export function withCredentials(headers: Record<string, string | string[]>, creds: ResolvedCredentials): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in headers) if (!CLIENT_CREDENTIAL_HEADERS.includes(k) && !Object.hasOwn(creds, k)) out[k] = headers[k]!;
  for (const k in creds) out[k] = creds[k]!;
  return out;
}
