/**
 * Audit lookups over a large `requests` table on the embedded engine: one consumer in a time
 * range, by input_hash, by event_id, by trace_id, and the controller's per-minute read, each
 * against a full scan of the same column (the baseline the skipping indexes are for).
 *   node --import tsx bench/pipeline/lookups.ts      (BENCH_ROWS, default 10000000)
 * Writes bench/results/pipeline-lookups.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WarehouseSection } from '../../services/warehouse/config.ts';
import { migrate } from '../../services/warehouse/migrate.ts';
import { createWarehouse } from '../../services/warehouse/warehouse.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000_000);
const DAYS = 20;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-bench-lookups-'));
  const wh = await createWarehouse(WarehouseSection.parse({ engine: 'embedded', path: dir, database: 'lookups' }));
  try {
    await migrate(wh);
    const start = Date.now() - DAYS * 86_400_000;
    console.log(`generating ${ROWS} rows over ${DAYS} days …`);
    const t0 = performance.now();
    // Synthetic rows made in the engine: 3 models × 2 versions, 5,000 consumers, random hashes.
    await wh.command(`INSERT INTO {db}.requests (event_id, ts, gateway_id, route, model, version, role, rollout_id, consumer_id, method, status,
        outcome, error_class, latency_ms, upstream_latency_ms, ttfb_ms, request_bytes, response_bytes, input_hash, output_hash, hash_key_id,
        input_redacted, redactions, prediction_label, prediction_score, tokens_in, tokens_out, correlation_id, trace_id, span_id, cache,
        schema_version, src_topic, src_partition, src_offset)
      SELECT generateUUIDv7(), fromUnixTimestamp64Milli(toInt64({start:Int64} + number * {step:Float64})), 'gw-1', '/v1/models/m/predict',
        ['sentiment','fraud','chat'][number % 3 + 1], if(number % 10 = 0, 'v8', 'v7'), if(number % 10 = 0, 'canary', 'stable'), '',
        concat('consumer-', toString(cityHash64(number) % 5000)), 'POST', 200, 'ok', '', 20 + randCanonical() * 80, 18, 10, 500, 120,
        lower(hex(SHA256(toString(number)))), lower(hex(SHA256(toString(number + 1)))), 'k1', '{"text":"what is my order status"}', map(),
        'positive', randCanonical(), NULL, NULL, '', lower(hex(MD5(toString(number)))), '', '', 1, 'bench', 0, number
      FROM numbers({rows:UInt64})`, { start, step: (DAYS * 86_400_000) / ROWS, rows: ROWS });
    await wh.command('OPTIMIZE TABLE {db}.requests FINAL');
    const genSeconds = (performance.now() - t0) / 1000;
    const [probe] = await wh.query<{ h: string; id: string; tr: string; c: string; ts: number }>(
      'SELECT input_hash AS h, toString(event_id) AS id, trace_id AS tr, consumer_id AS c, toUnixTimestamp64Milli(ts) AS ts FROM {db}.requests WHERE src_offset = {n:UInt64}',
      { n: Math.floor(ROWS * 0.37) });
    const from = (probe!.ts - 3 * 86_400_000) / 1000;
    const to = (probe!.ts + 86_400_000) / 1000;
    const cases: Array<[string, string, Record<string, unknown>, string]> = [
      ['one consumer, 4 days', 'SELECT count() FROM {db}.requests WHERE consumer_id = {c:String} AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}', { c: probe!.c, from, to },
        'SELECT count() FROM {db}.requests WHERE consumer_id = {c:String} SETTINGS use_skip_indexes = 0, force_primary_key = 0'],
      ['by input_hash', 'SELECT count() FROM {db}.requests WHERE input_hash = {h:String}', { h: probe!.h },
        'SELECT count() FROM {db}.requests WHERE input_hash = {h:String} SETTINGS use_skip_indexes = 0'],
      ['by event_id', 'SELECT count() FROM {db}.requests WHERE event_id = {id:UUID}', { id: probe!.id },
        'SELECT count() FROM {db}.requests WHERE event_id = {id:UUID} SETTINGS use_skip_indexes = 0'],
      ['by trace_id', 'SELECT count() FROM {db}.requests WHERE trace_id = {tr:String}', { tr: probe!.tr },
        'SELECT count() FROM {db}.requests WHERE trace_id = {tr:String} SETTINGS use_skip_indexes = 0'],
      ['controller: 1 h per version (requests_1m)', `SELECT version, sum(requests), sum(errors), quantileTDigestMerge(0.99)(latency_q) FROM {db}.requests_1m
        WHERE model = 'chat' AND minute >= {from:DateTime} AND minute < {to:DateTime} GROUP BY version`, { from: Math.floor(probe!.ts / 1000) - 3600, to: Math.floor(probe!.ts / 1000) },
        `SELECT version, count(), countIf(outcome != 'ok'), quantileTDigest(0.99)(latency_ms) FROM {db}.requests
        WHERE model = 'chat' AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)} GROUP BY version`],
    ];
    const results: Array<{ name: string; ms: number; baselineMs: number; baseline: string }> = [];
    for (const [name, sql, params, baseline] of cases) {
      // Best of 3, with ClickHouse's query condition cache off (it would remember the matching
      // granules of a repeated filter and make every run after the first look free).
      const time = async (q: string) => {
        const sql = q.includes('SETTINGS') ? `${q}, use_query_condition_cache = 0` : `${q} SETTINGS use_query_condition_cache = 0`;
        let best = Infinity;
        for (let i = 0; i < 3; i++) {
          const t = performance.now();
          await wh.query(sql, params);
          best = Math.min(best, performance.now() - t);
        }
        return best;
      };
      results.push({ name, ms: await time(sql), baselineMs: await time(baseline), baseline: name.startsWith('controller') ? 'same from raw requests' : 'skipping indexes off' });
    }
    const [size] = await wh.query<{ b: number }>("SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE database = 'lookups' AND table = 'requests' AND active");
    console.log(`\n${ROWS} rows generated in ${genSeconds.toFixed(1)} s, ${(size!.b / 1e6).toFixed(0)} MB on disk`);
    console.log(`${'lookup'.padEnd(44)} ${'ms'.padStart(8)} ${'baseline'.padEnd(24)} ${'ms'.padStart(8)}`);
    for (const r of results) console.log(`${r.name.padEnd(44)} ${r.ms.toFixed(1).padStart(8)} ${r.baseline.padEnd(24)} ${r.baselineMs.toFixed(1).padStart(8)}`);
    mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('../results/pipeline-lookups.json', import.meta.url), JSON.stringify({
      bench: 'pipeline-lookups', date: new Date().toISOString(), command: 'node --import tsx bench/pipeline/lookups.ts',
      machine: { cpus: cpus().length, node: process.version, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) },
      rows: ROWS, bytesOnDisk: size!.b, results,
    }, null, 2) + '\n');
  } finally {
    await wh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
