// Erasure applied at ingest (embedded mode): a consumer erased while its events still wait in the
// local log does not get them back when the ingester stores the log afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { waitUntil } from '../support/infra.ts';
import { sampleEvent } from '../support/events.ts';
import { count, embeddedWarehouse } from '../warehouse/support.ts';
import { metric } from './support.ts';
import { erase } from '../../services/audit/erasure.ts';
import { createChainedWriter } from '../../services/ledger/chained-writer.ts';
import { IngesterSection } from '../../services/ingester/config.ts';
import { startIngester, type Ingester } from '../../services/ingester/ingester.ts';
import { LocalLogSource } from '../../services/ingester/local-source.ts';
import { LocalLogReader, LocalLogWriter } from '../../services/telemetry/local-log.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';

const HASHING = { key: 'erasure-ingest-test-key-0123456789', keyId: 'k-test' };

function events(consumer: string, n: number, from: number, to: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify(sampleEvent({
    consumer_id: consumer, ts: n === 1 ? from : Math.round(from + ((to - from) * i) / (n - 1)), model: `m${i % 2}`,
    input_hash: (i % 16).toString(16).repeat(64),
  }))));
}

/** A temporary local log and an embedded warehouse; `E` is the erasure's time. */
async function setup(t: Parameters<typeof embeddedWarehouse>[0]): Promise<{ dir: string; wh: Warehouse; E: number; writer: LocalLogWriter }> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-erasure-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wh = await embeddedWarehouse(t);
  const writer = new LocalLogWriter({ dir: join(dir, 'log'), fsync: 'never' });
  t.after(() => writer.close());
  return { dir, wh, E: Math.floor(Date.now() / 1000) * 1000, writer };
}

/** An ingester tailing the local log in `dir`, with the test's hash key when `hashed`. */
async function startLocalIngester(t: Parameters<typeof embeddedWarehouse>[0], wh: Warehouse, dir: string, hashed: boolean): Promise<{ ingester: Ingester; registry: Registry }> {
  const cfg = IngesterSection.parse({ lagIntervalMs: 100, batch: { maxRows: 400, lingerMs: 50 } });
  const source = new LocalLogSource({ dir: join(dir, 'log'), dlqDir: join(dir, 'dlq'), reader: 'ingester', maxRows: 400, lingerMs: 50, pollMs: 20 });
  const registry = new Registry();
  const ingester = await startIngester({ config: cfg, warehouse: wh, source, registry, ...(hashed ? { hasher: createHasher(HASHING) } : {}) });
  t.after(() => ingester.stop());
  return { ingester, registry };
}

const committedTo = (dir: string, offset: number) => waitUntil(`the log committed to ${offset}`, () => new LocalLogReader({ dir: join(dir, 'log'), name: 'ingester' }).committedOffset() === offset, 60_000);

/** Erases consumer `value` at time `at` through the audit's erasure, as the DPO would. */
const eraseConsumer = (wh: Warehouse, value: string, at: number, hasher = createHasher(HASHING)) =>
  erase({ wh, writer: createChainedWriter(wh, { table: 'erasure_log', chainId: 'test-dpo' }), hasher, now: () => at }, { kind: 'consumer', value }, { actor: 'dpo', reason: 'test' });

async function ingestAll(t: Parameters<typeof embeddedWarehouse>[0], wh: Warehouse, dir: string, expectedOffset: number, hashed: boolean): Promise<Registry> {
  const { ingester, registry } = await startLocalIngester(t, wh, dir, hashed);
  await committedTo(dir, expectedOffset);
  await ingester.stop();
  return registry;
}

test('a consumer erased while its events wait in the local log: none of them at or before the erasure is stored, later ones are', async (t) => {
  const { dir, wh, E, writer } = await setup(t);

  // Already stored before the erasure: 50 events of X and 100 of others.
  await writer.append([...events('app-x', 50, E - 600_000, E - 500_000), ...events('app-y', 100, E - 600_000, E - 500_000)]);
  await ingestAll(t, wh, dir, 150, true);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-x'"), 50);

  // Waiting in the log when the erasure runs: X before the erasure (3 of them exactly at its ts),
  // X after it (a client that kept using the service, clocks ahead), and others.
  await writer.append([
    ...events('app-x', 300, E - 120_000, E - 1), ...events('app-x', 3, E, E),
    ...events('app-y', 400, E - 120_000, E + 60_000), ...events('app-x', 200, E + 1, E + 60_000),
    ...events('app-z', 600, E - 120_000, E + 60_000),
  ]);
  const erasure = await eraseConsumer(wh, 'app-x', E);
  assert.deepEqual(erasure.deleted, { requests: 50 });

  const registry = await ingestAll(t, wh, dir, 150 + 1503, true);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-x' AND ts <= fromUnixTimestamp64Milli(toInt64({e:Int64}))", { e: E }), 0, 'nothing of X at or before the erasure');
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-x'"), 200, 'X after the erasure is stored');
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-y'"), 500);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-z'"), 600);
  const stored = await count(wh, 'SELECT count() FROM {db}.requests');
  assert.equal(stored, 1300);
  // requests_1m is filled on insert: the 50 deleted rows stay counted there (erasure.ts keeps
  // aggregates), the 303 dropped at ingest were never counted.
  assert.equal(await count(wh, 'SELECT sum(requests) FROM {db}.requests_1m'), 1300 + 50);
  assert.equal(await metric(registry, 'mlgate_ingester_erased_rows_total', { selector: 'consumer' }), 303);
  assert.equal(await metric(registry, 'mlgate_ingester_rows_total'), 1200);
});

test('without the hash key an erasure by consumer cannot be matched at ingest: the rows are stored, and nothing else changes', async (t) => {
  const { dir, wh, E, writer } = await setup(t);
  await writer.append([...events('app-x', 30, E - 60_000, E - 1), ...events('app-y', 20, E - 60_000, E - 1)]);
  await eraseConsumer(wh, 'app-x', E);
  const registry = await ingestAll(t, wh, dir, 50, false);
  assert.equal(await count(wh, 'SELECT count() FROM {db}.requests'), 50);
  assert.equal(await metric(registry, 'mlgate_ingester_erased_rows_total'), 0);
});

test('an erasure logged while the ingester runs applies to every batch read after it', async (t) => {
  const { dir, wh, E, writer } = await setup(t);
  const { registry } = await startLocalIngester(t, wh, dir, true);
  await writer.append(events('app-y', 10, E - 60_000, E - 1));
  await waitUntil('the first batch stored', async () => (await count(wh, 'SELECT count() FROM {db}.requests')) === 10, 30_000);
  // The ingester read the (empty) erasure log at start and for the first batch; this erasure comes later.
  await eraseConsumer(wh, 'app-x', E);
  await writer.append([...events('app-x', 40, E - 60_000, E), ...events('app-y', 10, E - 60_000, E - 1)]);
  await committedTo(dir, 60);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-x'"), 0);
  assert.equal(await count(wh, "SELECT count() FROM {db}.requests WHERE consumer_id = 'app-y'"), 20);
  assert.equal(await metric(registry, 'mlgate_ingester_erased_rows_total', { selector: 'consumer' }), 40);
});
