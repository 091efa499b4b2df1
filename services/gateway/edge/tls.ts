/**
 * TLS material, read once at setup (a missing or unreadable file stops the start with its path):
 * the HTTPS listener's certificate and key, and per-version upstream TLS (CA bundle, client
 * certificate) as undici connect options.
 */
import { readFileSync } from 'node:fs';
import { EdgeErrors } from './errors.ts';
import type { ServerTlsConfig, UpstreamTlsConfig } from './edge-config.ts';

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw EdgeErrors.setup(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Options for `https.createServer` / fastify's `https`. */
export function serverTlsOptions(cfg: ServerTlsConfig): { cert: Buffer; key: Buffer } {
  return { cert: read(cfg.cert, 'gateway.tls.cert'), key: read(cfg.key, 'gateway.tls.key') };
}

/** undici `connect` options for an https upstream. */
export interface UpstreamConnectOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

/** Connect options of a version's upstream TLS settings (`where` names the field in errors). */
export function upstreamConnectOptions(cfg: UpstreamTlsConfig, where: string): UpstreamConnectOptions {
  const out: UpstreamConnectOptions = {};
  if (cfg.ca) out.ca = read(cfg.ca, `${where}.ca`);
  if (cfg.cert) out.cert = read(cfg.cert, `${where}.cert`);
  if (cfg.key) out.key = read(cfg.key, `${where}.key`);
  if (cfg.servername) out.servername = cfg.servername;
  return out;
}
