// The ingester's erasure filter on its own: which erasure-log rows it can match, the ts rule,
// and when it reads the log again (a read started after the batch was read, shared by batches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleEvent } from '../support/events.ts';
import { embeddedWarehouse } from '../warehouse/support.ts';
import { silentLogger } from '../../services/core/log.ts';
import { erase } from '../../services/audit/erasure.ts';
import { createChainedWriter } from '../../services/ledger/chained-writer.ts';
import { createMessageDecoder, type DecodedItem } from '../../services/ingester/decode.ts';
import { ErasureFilter } from '../../services/ingester/erasure-filter.ts';
import { createHasher } from '../../services/telemetry/hash.ts';

const decode = createMessageDecoder('JSONCompactEachRow');
const item = (offset: number, over: Parameters<typeof sampleEvent>[0]): DecodedItem =>
  decode('t', 0, { offset, value: Buffer.from(JSON.stringify(sampleEvent(over))), key: null });

test('erasure filter: matches by input hash and by consumer under its own key id, at or before the erasure; reads the log again only for batches read after the last read began', async (t) => {
  const wh = await embeddedWarehouse(t);
  const hasher = createHasher({ key: 'filter-test-key-0123456789', keyId: 'k-now' });
  const oldKey = createHasher({ key: 'filter-test-old-key-0123456789', keyId: 'k-old' });
  const writer = createChainedWriter(wh, { table: 'erasure_log', chainId: 'test-dpo' });
  const E = Math.floor(Date.now() / 1000) * 1000;
  let clock = 0;
  const queries: string[] = [];
  const counted = new Proxy(wh, { get: (w, p) => (p === 'query' ? (sql: string, params?: Record<string, unknown>) => { queries.push(sql); return w.query(sql, params); } : Reflect.get(w, p)) });
  const filter = new ErasureFilter({ warehouse: counted, hasher, log: silentLogger(), clock: () => clock });

  const batch = [
    item(0, { consumer_id: 'app-x', ts: E - 10, input_hash: '1'.repeat(64) }),
    item(1, { consumer_id: 'app-x', ts: E + 10, input_hash: '1'.repeat(64) }),
    item(2, { consumer_id: 'app-y', ts: E, input_hash: 'f'.repeat(64) }),
    item(3, { consumer_id: 'app-y', ts: E + 1, input_hash: 'f'.repeat(64) }),
    item(4, { consumer_id: 'app-old', ts: E - 10, input_hash: '2'.repeat(64) }),
  ];
  clock = 1;
  await filter.ensureFresh(1);
  assert.deepEqual(filter.filter(batch).keep.length, 5);
  const reads = queries.length;

  await erase({ wh, writer, hasher, now: () => E }, { kind: 'consumer', value: 'app-x' }, { actor: 'dpo' });
  await erase({ wh, writer, now: () => E }, { kind: 'input_hash', value: 'f'.repeat(64) }, { actor: 'dpo' });
  await erase({ wh, writer, hasher: oldKey, now: () => E }, { kind: 'consumer', value: 'app-old' }, { actor: 'dpo' });

  // A batch read before the last read began is served by it: no new read, the erasures not yet seen.
  await filter.ensureFresh(0.5);
  assert.equal(queries.length, reads);
  assert.equal(filter.filter(batch).keep.length, 5);

  // A batch read now waits for a new read; concurrent batches read at the same time share it.
  clock = 2;
  await Promise.all([filter.ensureFresh(2), filter.ensureFresh(2)]);
  assert.equal(queries.length, reads + 1, 'one read for both');
  const r = filter.filter(batch);
  assert.deepEqual(r.keep.map((i) => i.offset), [1, 3, 4], 'x before the erasure and the erased payload at its ts dropped; app-old was erased under another key id');
  assert.deepEqual(r.erased, { consumer: 1, input_hash: 1 });
  assert.deepEqual(filter.size, { consumer: 1, input_hash: 1 });
});
