// Erasure details on a small seed: the subject extension point (a configured requests column
// holding the subject's keyed hash), an erasure that finds nothing is still logged, consumer
// erasure needs the hasher, and the log's chain verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MlgateError } from '../../services/core/errors.ts';
import { AuditSection } from '../../services/audit/config.ts';
import { createAuditService } from '../../services/audit/service.ts';
import { knownRow } from '../../bench/audit/seed.ts';
import { seeded } from './helpers.ts';

const RETENTION = { requests: 60, aggregates: 400, canaryDecisions: null, adminChanges: null };

test('erasure by a configured subject column, empty erasures logged, hasher required', async (t) => {
  const s = await seeded(t, 2_000);
  await s.wh.command("ALTER TABLE {db}.requests ADD COLUMN IF NOT EXISTS subject_hash String DEFAULT ''");
  const subject = s.hasher.hashValue('user-77');
  await s.wh.insert('requests', [1, 2, 3].map((i) => knownRow({ consumer_id: `app-${i}`, subject_hash: subject, ts: s.end - i * 60_000, src_offset: 9000 + i })));
  await s.wh.insert('requests', [knownRow({ consumer_id: 'app-1', subject_hash: s.hasher.hashValue('user-78'), ts: s.end - 5000, src_offset: 9010 })]);
  const svc = createAuditService({
    warehouse: s.wh, audit: AuditSection.parse({ chainId: 'dpo-desk', erasure: { subjectColumn: 'subject_hash' } }), retention: RETENTION, hasher: s.hasher, now: () => s.now,
  });

  const r = await svc.erase({ subject: 'user-77' }, { actor: 'dpo', reason: 'request 12' });
  assert.deepEqual([r.deleted, r.remaining, r.record.selector_kind, r.record.selector_hash, r.record.chain_id], [{ requests: 3 }, { requests: 0 }, 'subject', subject, 'dpo-desk']);
  assert.equal((await svc.verifyErasure({ subject: 'user-77' })).ok, true);
  const other = await s.wh.query<{ n: string }>('SELECT toString(count()) AS n FROM {db}.requests WHERE subject_hash = {h:String}', { h: s.hasher.hashValue('user-78') });
  assert.equal(other[0]!.n, '1', 'another subject keeps its rows');

  const none = await svc.erase({ input_hash: 'c'.repeat(64) }, { actor: 'dpo' });
  assert.deepEqual([none.deleted, none.record.seq, none.record.hash_key_id], [{ requests: 0 }, 2, '']);

  const misconfigured = createAuditService({ warehouse: s.wh, audit: AuditSection.parse({ erasure: { subjectColumn: 'no_such_column' } }), retention: RETENTION, hasher: s.hasher });
  await assert.rejects(misconfigured.erase({ subject: 'user-77' }, { actor: 'dpo' }), (e: unknown) => e instanceof MlgateError && e.code === 'MLG_AUD_SCHEMA_MISSING' && /no column no_such_column/.test(e.message));
  const noHasher = createAuditService({ warehouse: s.wh, audit: AuditSection.parse({}), retention: RETENTION });
  await assert.rejects(noHasher.erase({ consumer: 'app-1' }, { actor: 'dpo' }), (e: unknown) => e instanceof MlgateError && e.code === 'MLG_AUD_NO_HASHER');
  await assert.rejects(noHasher.erase({ input_hash: 'xyz' }, { actor: 'dpo' }), (e: unknown) => e instanceof MlgateError && e.code === 'MLG_AUD_BAD_FILTER');

  const report = await svc.verify({ table: 'erasure_log' });
  assert.equal(report.ok, true, report.firstBreak?.message);
  assert.deepEqual(report.tables[0]!.chains.map((c) => [c.chain_id, c.rows]), [['dpo-desk', 2]]);
});

test('verify-erasure judges the rows its newest erasure covers (at or before it): later traffic is reported apart, a straggler from before fails it', async (t) => {
  const s = await seeded(t, 500);
  const rows = (consumer: string, ts: number[], base: number) => ts.map((x, i) => knownRow({ consumer_id: consumer, ts: x, src_offset: base + i }));
  await s.wh.insert('requests', rows('late-app', [s.now - 120_000, s.now - 60_000], 7000));
  await s.wh.insert('requests', rows('never-erased', [s.now - 60_000], 7100));
  const erased = await s.service.erase({ consumer: 'late-app' }, { actor: 'dpo' });
  assert.deepEqual([erased.deleted, erased.remaining], [{ requests: 2 }, { requests: 0 }]);

  // The consumer comes back after its erasure: its new rows are not what the erasure covered.
  await s.wh.insert('requests', rows('late-app', [s.now + 60_000, s.now + 120_000, s.now + 180_000], 7200));
  const later = await s.service.verifyErasure({ consumer: 'late-app' });
  assert.deepEqual([later.ok, later.remaining, later.since_erasure, later.erasures.length], [true, { requests: 0 }, { requests: 3 }, 1]);
  assert.equal((later.erasures[0] as Record<string, unknown>).ts_ms, undefined, 'the listing keeps its columns');

  // An event from before the erasure that landed after it (in flight past the filter): it fails.
  await s.wh.insert('requests', rows('late-app', [s.now - 30_000], 7300));
  const straggler = await s.service.verifyErasure({ consumer: 'late-app' });
  assert.deepEqual([straggler.ok, straggler.remaining, straggler.since_erasure], [false, { requests: 1 }, { requests: 3 }]);

  // Never erased: every row counts, and there is no "since".
  const never = await s.service.verifyErasure({ consumer: 'never-erased' });
  assert.deepEqual([never.ok, never.remaining, never.since_erasure], [false, { requests: 1 }, undefined]);
});
