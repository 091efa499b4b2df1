/** Helpers of the audit tests: a seeded warehouse, the CLI run in-process, a config file. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { runAuditCli } from '../../services/audit/cli.ts';
import { AuditSection } from '../../services/audit/config.ts';
import { createAuditService, type AuditService } from '../../services/audit/service.ts';
import { createHasher, type Hasher } from '../../services/telemetry/hash.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { insertKnownRows, seedRequests, type KnownData } from '../../bench/audit/seed.ts';
import { chdbPath } from '../support/infra.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';

/** The telemetry hashing settings every audit test uses. */
export const HASHING = { key: 'audit-test-key-0123456789abcdef', keyId: 'k-test' };
/** Tokens of the HTTP tests. */
export const TOKENS = [
  { name: 'auditor', token: 'audit-token-0123456789abcdef', role: 'audit' as const },
  { name: 'dpo', token: 'admin-token-0123456789abcdef', role: 'admin' as const },
];

/** A seeded audit fixture. */
export interface Seeded {
  wh: Warehouse;
  hasher: Hasher;
  known: KnownData;
  /** The newest synthetic event time; the service's clock is END + 1 s. */
  end: number;
  now: number;
  service: AuditService;
  /** Rows in `requests` after seeding. */
  total: number;
  /** A config file pointing the CLI at this warehouse. */
  configFile: string;
}

/** A migrated embedded warehouse (requests kept 60 days) with `rows` synthetic events and the known rows. */
export async function seeded(t: TestContext, rows: number, audit: Record<string, unknown> = {}): Promise<Seeded> {
  const wh = await embeddedWarehouse(t, { retention: { requests: 60 } });
  const end = Math.floor(Date.now() / 1000) * 1000;
  const now = end + 1000;
  const hasher = createHasher(HASHING);
  if (rows > 0) await seedRequests(wh, { rows, endMs: end });
  const known = await insertKnownRows(wh, hasher, end);
  const total = Number((await wh.query<{ n: string }>('SELECT toString(count()) AS n FROM {db}.requests'))[0]!.n);
  const cfg = AuditSection.parse(audit);
  const service = createAuditService({ warehouse: wh, audit: cfg, retention: { requests: 60, aggregates: 400, canaryDecisions: null, adminChanges: null }, hasher, now: () => now });
  const configFile = writeConfig({
    warehouse: { engine: 'embedded', path: chdbPath(), database: wh.database, retention: { requests: 60 } },
    telemetry: { hashing: HASHING }, log: { level: 'warn' }, audit,
  });
  return { wh, hasher, known, end, now, service, total, configFile };
}

/** Writes `doc` as YAML to a temporary file and returns its path. */
export function writeConfig(doc: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mlgate-audit-cfg-')), 'mlgate.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

/** Runs `mlgate audit …` in this process; returns the exit code and what it printed. */
export async function cli(argv: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const input = new PassThrough();
  input.end(stdin);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runAuditCli(argv, {}, { stdout, stderr, stdin: input });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** Parses JSON lines. */
export function jsonl<T = Record<string, unknown>>(text: string): T[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
