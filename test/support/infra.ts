/**
 * Test helpers for the real infrastructure. Each integration test gets its own Kafka topic names
 * and its own ClickHouse database, and tears down what it made. `scripts/test.mjs` starts the
 * shared Kafka broker and ClickHouse server and passes their addresses in the environment.
 *
 * Under CI=true a missing service fails the test loudly; elsewhere the test is skipped with the
 * reason and the command that starts the service.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const CI = process.env.CI === 'true';

/** A unique, Kafka- and ClickHouse-safe name: `prefix_<hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

async function tcpReachable(hostPort: string, timeoutMs = 1000): Promise<boolean> {
  const { Socket } = await import('node:net');
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(Number(port), host!, () => done(true));
  });
}

function missing(t: TestContext, what: string, how: string): undefined {
  const msg = `${what} is not reachable; start it with \`${how}\``;
  if (CI) throw new Error(`CI=true and ${msg}`);
  t.skip(msg);
  return undefined;
}

/** Brokers of the shared test Kafka, or undefined (test skipped) when it is down outside CI. */
export async function needKafka(t: TestContext): Promise<string[] | undefined> {
  const brokers = (process.env.MLGATE_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  if (await tcpReachable(brokers[0]!)) return brokers;
  return missing(t, `Kafka at ${brokers[0]}`, 'npm run infra:up');
}

/** URL of the shared ClickHouse server, or undefined (test skipped) when it is down outside CI. */
export async function needClickHouseServer(t: TestContext): Promise<string | undefined> {
  const url = process.env.MLGATE_TEST_CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    if (res.ok) return url;
  } catch { /* fall through */ }
  return missing(t, `ClickHouse server at ${url}`, 'npm run infra:up');
}

/** A kafkajs client for tests, quiet unless something breaks. */
export function testKafka(brokers: string[], clientId = 'mlgate-test'): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.ERROR, retry: { retries: 5, initialRetryTime: 100 } });
}

/** Creates uniquely named topics and deletes them when the test ends. Returns the names by role. */
export async function withTopics<K extends string>(
  t: TestContext, brokers: string[], roles: Record<K, { partitions?: number; compacted?: boolean }>,
): Promise<Record<K, string>> {
  const admin: Admin = testKafka(brokers).admin();
  await admin.connect();
  const names = {} as Record<K, string>;
  for (const role of Object.keys(roles) as K[]) names[role] = uniqueName(`t_${role}`).replace(/_/g, '.');
  await admin.createTopics({
    waitForLeaders: true,
    topics: (Object.keys(roles) as K[]).map((role) => ({
      topic: names[role],
      numPartitions: roles[role].partitions ?? 1,
      replicationFactor: 1,
      configEntries: roles[role].compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
    })),
  });
  t.after(async () => {
    try { await admin.deleteTopics({ topics: Object.values(names) as string[] }); } catch { /* broker may be gone */ }
    await admin.disconnect();
  });
  return names;
}

let chdbDir: string | undefined;
let chdbShared: ClickHouseClient | undefined;

/** This test process's embedded ClickHouse data path (chdb allows one path per process). */
export function chdbPath(): string {
  if (!chdbDir) {
    chdbDir = mkdtempSync(join(tmpdir(), 'mlgate-chdb-'));
    process.once('exit', () => rmSync(chdbDir!, { recursive: true, force: true }));
  }
  return chdbDir;
}

/** A @clickhouse/client on the embedded engine at {@link chdbPath}. */
export function chdbClient(): ClickHouseClient {
  chdbShared ??= createClient({ connection: createChdbConnection({ path: chdbPath() }) } as Parameters<typeof createClient>[0]);
  return chdbShared;
}

/** Creates a fresh database on `client` and drops it when the test ends. */
export async function testDatabase(t: TestContext, client: ClickHouseClient, prefix = 'mlg'): Promise<string> {
  const db = uniqueName(prefix);
  await client.command({ query: `CREATE DATABASE ${db}` });
  t.after(async () => { await client.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => {}); });
  return db;
}

/** A private Kafka broker or ClickHouse server that a test may stop and start (outage tests). */
export interface PrivateService {
  /** Address: `host:port` for Kafka, a URL for ClickHouse. */
  readonly address: string;
  start(): Promise<void>;
  /** Stops the process; data is kept until {@link PrivateService.destroy}. */
  stop(): Promise<void>;
  /** Stops and removes the data. */
  destroy(): Promise<void>;
}

/**
 * Starts a private Kafka broker on `port` (and `port+1` for its controller) that only this test
 * uses, so stopping it does not disturb other tests. Torn down when the test ends.
 */
export async function privateKafka(t: TestContext, port: number): Promise<PrivateService> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-kafka-'));
  const env = { ...process.env, MLGATE_KAFKA_PORT: String(port), MLGATE_KAFKA_DIR: dir };
  const script = join(ROOT, 'scripts/kafka.sh');
  const svc: PrivateService = {
    address: `127.0.0.1:${port}`,
    start: async () => { await run('bash', [script, 'start'], { env: { ...env, MLGATE_KAFKA_KEEP: '1' } }); },
    stop: async () => { await run('bash', [script, 'stop'], { env: { ...env, MLGATE_KAFKA_KEEP: '1' } }); },
    destroy: async () => { await run('bash', [script, 'stop'], { env }); },
  };
  await svc.start();
  t.after(() => svc.destroy());
  return svc;
}

/** Like {@link privateKafka} for a ClickHouse server on `httpPort` (and `httpPort+1` native). */
export async function privateClickHouse(t: TestContext, httpPort: number): Promise<PrivateService> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-ch-'));
  const env = { ...process.env, MLGATE_CH_HTTP_PORT: String(httpPort), MLGATE_CH_DIR: dir };
  const script = join(ROOT, 'scripts/clickhouse.sh');
  const svc: PrivateService = {
    address: `http://127.0.0.1:${httpPort}`,
    start: async () => { await run('bash', [script, 'start'], { env }); },
    stop: async () => { await run('bash', [script, 'stop'], { env: { ...env, MLGATE_CH_KEEP: '1' } }); },
    destroy: async () => { await run('bash', [script, 'stop'], { env }); },
  };
  await svc.start();
  t.after(() => svc.destroy());
  return svc;
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitUntil<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) { last = err; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
