// SQL injection through every parameter of every audit question, on the real schema. Each
// hostile value carries a marker; a recording warehouse proves the marker never reaches SQL
// text (values travel as {name:Type} parameters), and the answers prove the values were taken
// literally: a consumer id shaped like an injection finds exactly its own row, others none,
// typed parameters are refused by validation, and every table is intact afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MlgateError } from '../../services/core/errors.ts';
import { AuditSection } from '../../services/audit/config.ts';
import { createAuditService, type AuditService } from '../../services/audit/service.ts';
import { createAuditApp } from '../../services/audit/server.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { TOKENS, seeded } from './helpers.ts';

const MARK = 'ZQXJ';
const PAYLOADS = [
  `${MARK}' OR '1'='1`, `${MARK}'; DROP TABLE requests; --`, `${MARK}\\' OR 1=1 --`, `${MARK}') UNION SELECT name FROM system.tables --`,
  `${MARK}{db}`, `${MARK}{f_0:String}`, `${MARK}" OR ""="`, `${MARK}%27%20OR%201%3D1`, `${MARK}) OR (1=1`, `${MARK}\u2019 OR 1=1`,
];

/** A warehouse that records every SQL text it is given. */
function recording(wh: Warehouse, seen: string[]): Warehouse {
  const wrap = (name: 'query' | 'stream' | 'command') => ({
    value: (sql: string, ...rest: unknown[]) => {
      seen.push(sql);
      return (wh[name] as (...a: unknown[]) => unknown).call(wh, sql, ...rest);
    },
  });
  return Object.create(wh, { query: wrap('query'), stream: wrap('stream'), command: wrap('command') });
}

async function outcome(fn: () => Promise<unknown>): Promise<{ rows: unknown[] } | { code: string }> {
  try {
    const r = await fn();
    const rows = Array.isArray(r) ? r : r && typeof r === 'object' && 'rows' in r ? (r as { rows: unknown[] }).rows : [r];
    return { rows };
  } catch (err) {
    assert.ok(err instanceof MlgateError, `a hostile value caused a non-catalogue error: ${String(err)}`);
    assert.ok(err.statusCode >= 400 && err.statusCode < 500, `${err.code}: ${err.message}`);
    return { code: err.code };
  }
}

test('SQL injection through every audit parameter is bound, never spliced', async (t) => {
  const s = await seeded(t, 5_000);
  const seen: string[] = [];
  const wh = recording(s.wh, seen);
  const svc: AuditService = createAuditService({
    warehouse: wh, audit: AuditSection.parse({ tokens: TOKENS }), retention: { requests: 60, aggregates: 400, canaryDecisions: null, adminChanges: null },
    hasher: s.hasher, now: () => s.now,
  });
  const tables = async () => (await s.wh.query<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: s.wh.database })).map((r) => r.name);
  const before = { tables: await tables(), rows: s.total };

  await t.test('hostile consumer ids stored as data are found literally, one row each', async () => {
    for (const c of s.known.hostileConsumers) {
      const page = await svc.requests({ consumer: c, from: 'now-1d' });
      assert.deepEqual(page.rows.map((r) => r.consumer_id), [c], `consumer ${c}`);
    }
  });

  await t.test('every free-text parameter takes the payload literally (no rows) and every typed one refuses it', async () => {
    const calls: Array<[string, (p: string) => Promise<unknown>]> = [];
    for (const f of ['consumer', 'model', 'version', 'rollout', 'gateway']) {
      calls.push([`requests.${f}`, (p) => svc.requests({ [f]: p })]);
      calls.push([`summary.${f}`, (p) => svc.summary({ [f]: p })]);
      calls.push([`export.${f}`, async (p) => { const h = await svc.exportRequests({ [f]: p }); for await (const _ of h.chunks) { /* drain */ } return { rows: [] }; }]);
    }
    for (const f of ['role', 'outcome', 'status', 'from', 'to', 'limit', 'cursor']) calls.push([`requests.${f}`, (p) => svc.requests({ [f]: p })]);
    calls.push(['summary.by', (p) => svc.summary({ by: p })], ['export.format', (p) => svc.exportRequests({ format: p })]);
    calls.push(['input_hash', (p) => svc.byInputHash({ input_hash: p })], ['input.from', (p) => svc.byInputHash({ input_hash: 'a'.repeat(64), from: p })]);
    calls.push(['event_id', (p) => svc.event(p)], ['trace_id', (p) => svc.trace(p)], ['rollout_id', (p) => svc.rollout(p, {})]);
    for (const f of ['actor', 'action', 'target', 'model', 'from', 'cursor']) calls.push([`admin.${f}`, (p) => svc.adminChanges({ [f]: p })]);
    for (const f of ['actor', 'from']) calls.push([`erasures.${f}`, (p) => svc.erasures({ [f]: p })]);
    calls.push(['verify.table', (p) => svc.verify({ table: p })]);
    calls.push(['verify-erasure.consumer', (p) => svc.verifyErasure({ consumer: p })], ['verify-erasure.input_hash', (p) => svc.verifyErasure({ input_hash: p })]);
    calls.push(['erase.consumer', (p) => svc.erase({ consumer: p }, { actor: 'tester' })], ['erase.input_hash', (p) => svc.erase({ input_hash: p }, { actor: 'tester' })]);
    calls.push(['erase.actor', (p) => svc.erase({ consumer: 'nobody-at-all' }, { actor: p })], ['erase.reason', (p) => svc.erase({ consumer: 'nobody-at-all' }, { actor: 'tester', reason: p })]);
    calls.push(['unknown field name', (p) => svc.requests({ [p]: 'x' })]);
    let tried = 0;
    for (const [name, fn] of calls) {
      for (const p of PAYLOADS) {
        const r = await outcome(() => fn(p));
        tried++;
        if ('rows' in r && !name.startsWith('verify') && !name.startsWith('erase')) {
          assert.deepEqual(r.rows, [], `${name} with ${JSON.stringify(p)} returned rows`);
        }
      }
    }
    assert.ok(tried >= 40 * PAYLOADS.length, `tried ${tried}`);
    const spliced = seen.filter((sql) => sql.includes(MARK));
    assert.deepEqual(spliced, [], 'a value reached SQL text');
    assert.ok(seen.length > 100, `recorded ${seen.length} statements`);
  });

  await t.test('the HTTP layer passes hostile path and query values through the same binding', async () => {
    const app = createAuditApp({ service: svc, tokens: TOKENS });
    t.after(() => app.close());
    const auth = { authorization: `Bearer ${TOKENS[0]!.token}` };
    for (const p of PAYLOADS) {
      const e = encodeURIComponent(p);
      for (const url of [`/v1/requests?consumer=${e}`, `/v1/requests?model=${e}&from=now-1d`, `/v1/requests/${e}`, `/v1/traces/${e}/requests`,
        `/v1/input-hashes/${e}/requests`, `/v1/rollouts/${e}/decisions`, `/v1/admin-changes?target=${e}`, `/v1/requests/export?gateway=${e}`, `/v1/verify?table=${e}`]) {
        const res = await app.inject({ method: 'GET', url, headers: auth });
        assert.ok(res.statusCode === 200 || res.statusCode === 400 || res.statusCode === 404, `${url}: ${res.statusCode} ${res.body}`);
        if (res.statusCode === 200 && res.headers['content-type']?.toString().includes('json')) {
          const body = res.json() as { rows?: unknown[] };
          assert.deepEqual(body.rows ?? [], [], url);
        }
      }
    }
    const hostile = s.known.hostileConsumers[1]!;
    const res = await app.inject({ method: 'GET', url: `/v1/requests?consumer=${encodeURIComponent(hostile)}&from=now-1d`, headers: auth });
    assert.deepEqual((res.json() as { rows: Array<{ consumer_id: string }> }).rows.map((r) => r.consumer_id), [hostile]);
    assert.deepEqual(seen.filter((sql) => sql.includes(MARK)), []);
  });

  await t.test('erasing a consumer named like an injection deletes exactly its row; every table is intact', async () => {
    const hostile = s.known.hostileConsumers[0]!; // x' OR '1'='1
    const r = await svc.erase({ consumer: hostile }, { actor: 'tester' });
    assert.deepEqual(r.deleted, { requests: 1 });
    assert.deepEqual(await tables(), before.tables);
    const left = Number((await s.wh.query<{ n: string }>('SELECT toString(count()) AS n FROM {db}.requests'))[0]!.n);
    assert.equal(left, before.rows - 1);
    assert.equal((await svc.verify({})).ok, true);
  });
});
