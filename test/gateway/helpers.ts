/**
 * Helpers for gateway tests: a gateway on port 0 over stand-in models, reading events from a
 * MemorySink, and small HTTP helpers (undici).
 */
import type { TestContext } from 'node:test';
import { request, Pool } from 'undici';
import { parseConfig } from '../../services/core/config.ts';
import { GatewaySection, type GatewayConfig } from '../../services/gateway/config.ts';
import { startGateway, type RunningGateway, type StartGatewayOptions } from '../../services/gateway/gateway.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { MemorySink } from '../../services/telemetry/sink.ts';
import { silentLogger } from '../../services/core/log.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { decodeEvent, type TelemetryEvent } from '../../services/telemetry/event.ts';
import { localLogDir } from '../../services/telemetry/factory.ts';
import { LocalLogReader } from '../../services/telemetry/local-log.ts';
import { ThreadedSink } from '../../services/telemetry/threaded-sink.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';

/**
 * The redaction the test gateways and threads use: a budget no scheduler delay reaches, because
 * tests compare events built in two places, and a redaction a loaded host delayed past the default
 * 100 ms would be UNSCANNED on one side only (the budget itself is tested in test/telemetry).
 */
export const TEST_REDACTION = Object.freeze({ maxChars: 2048, budgetMs: 60_000 });

/** Admin token used by test gateways. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789';
/** Named admin tokens every test gateway has besides ADMIN_TOKEN (actor `admin`). */
export const ADMIN_ACTORS = ['alice', 'bob', 'carol'] as const;
const actorToken = (name: string) => `test-admin-token-of-${name}-0123456789`;

/** Headers that authenticate an admin call as `name` (one of {@link ADMIN_ACTORS}): the recorded actor. */
export function asActor(name: (typeof ADMIN_ACTORS)[number]): Record<string, string> {
  return { authorization: `Bearer ${actorToken(name)}` };
}

/** Hash key used by test gateways. */
export const HASH_KEY = 'test-hash-key-0123456789';

/** A test gateway and its sink. */
export interface TestGateway {
  gw: RunningGateway;
  sink: MemorySink;
  config: GatewayConfig;
}

/** Parses a raw `gateway:` section with test defaults (ports 0, admin token). */
export function gatewayConfig(raw: Record<string, unknown>): GatewayConfig {
  const admin = { port: 0, token: ADMIN_TOKEN, tokens: ADMIN_ACTORS.map((name) => ({ name, token: actorToken(name) })), ...(raw.admin as object | undefined) };
  return parseConfig(GatewaySection, { port: 0, ...raw, admin }, 'test gateway config');
}

/** Starts a gateway for a test; closed when the test ends. */
export async function startTestGateway(
  t: TestContext, raw: Record<string, unknown>, extra: Partial<StartGatewayOptions> = {},
): Promise<TestGateway> {
  const config = gatewayConfig(raw);
  const sink = new MemorySink();
  const gw = await startGateway({
    config, sink, hasher: createHasher({ key: HASH_KEY, keyId: 'k1' }), redactor: createRedactor(TEST_REDACTION), gatewayId: 'gw-test', ...extra,
  });
  t.after(() => gw.close());
  return { gw, sink, config };
}

/** Result of {@link call}. */
export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One HTTP call; the body (object = JSON) is sent as is. */
export async function call(url: string, opts: { method?: string; body?: unknown; headers?: Record<string, string>; dispatcher?: Pool } = {}): Promise<CallResult> {
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : JSON.stringify(opts.body);
  const headers = { ...(body !== undefined && typeof opts.body === 'object' && !Buffer.isBuffer(opts.body) ? { 'content-type': 'application/json' } : {}), ...opts.headers };
  const res = await request(url, { method: (opts.method ?? (body === undefined ? 'GET' : 'POST')) as 'GET', body, headers, ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}) });
  const text = await res.body.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** Admin API call with the test token. */
export function admin(gw: RunningGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<CallResult> {
  return call(`${gw.adminUrl}${path}`, { method, body, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers } });
}

/** A model with versions on the given stand-in URLs. */
export function model(versions: Record<string, string | string[]>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    versions: Object.fromEntries(Object.entries(versions).map(([v, urls]) => [v, { targets: Array.isArray(urls) ? urls : [urls], ...(extra.versionDefaults as object | undefined) }])),
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'versionDefaults')),
  };
}

/**
 * The sink `mlgate gateway` runs with `eventWorker` on: the local log in the telemetry thread
 * (events built there), keyed with {@link HASH_KEY}. `events()` flushes and reads the log back.
 */
export async function threadedSink(t: TestContext, opts: { ringBytes?: number } = {}): Promise<{ sink: ThreadedSink; events(): Promise<TelemetryEvent[]> }> {
  const hashing = { key: HASH_KEY, keyId: 'k1' };
  const redaction = TEST_REDACTION;
  const telemetry = parseConfig(TelemetrySection, { hashing });
  const dataDir = tempDir(t, 'threaded');
  const sink = await ThreadedSink.start({
    gatewayId: 'gw-test', hasher: hashing, redactor: redaction, hasherInstance: createHasher(hashing), redactorInstance: createRedactor(redaction),
    telemetry, kafka: undefined, dataDir, service: 'gateway', logLevel: 'silent', logger: silentLogger(), ringBytes: opts.ringBytes,
  });
  cleanup(t, () => sink.close());
  return {
    sink,
    async events() {
      await sink.flush();
      const reader = new LocalLogReader({ dir: localLogDir(telemetry, dataDir), name: `test-${Date.now()}` });
      try {
        const out: TelemetryEvent[] = [];
        for (let recs = await reader.read(500); recs.length; recs = await reader.read(500)) {
          for (const r of recs) {
            const d = decodeEvent(r.value);
            if (!d.ok) throw new Error(`bad event in the log: ${d.reason}`);
            out.push(d.event);
          }
        }
        return out;
      } finally {
        await reader.close();
      }
    },
  };
}
