/**
 * Synthetic `requests` for the audit tests and benchmark: a month of deterministic events made
 * inside ClickHouse (`INSERT … SELECT … FROM numbers(N)`, no rows cross the JS boundary), plus a
 * few known rows inserted explicitly whose answers the tests assert.
 *
 * The bulk insert detaches the `requests_1m` materialized view for its duration (the usual bulk
 * load practice: the view's t-digest states cost about 8x the insert itself) and attaches it
 * again; known rows go through the normal path, view included. Audit queries never read
 * `requests_1m`.
 *
 * Synthetic shape: 500 consumers `consumer-N` with a skewed share (consumer-0 ≈ 4.5 %), 4 models x
 * 3 versions, 9 outcomes in 13 ok, payloads repeating (about N/2 distinct input hashes), one
 * trace id per event, ts spread evenly over `days` ending at `endMs`.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Hasher } from '../../services/telemetry/hash.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';

/** Options of {@link seedRequests}. */
export interface SeedOptions {
  rows: number;
  /** Newest event time (ms); the month ends here. */
  endMs: number;
  /** Days covered; default 30. */
  days?: number;
}

const SEED_SQL = `INSERT INTO {db}.requests
SELECT
  toUUID(concat(substring(u,1,8),'-',substring(u,9,4),'-',substring(u,13,4),'-',substring(u,17,4),'-',substring(u,21,12))) AS event_id,
  fromUnixTimestamp64Milli(ms, 'UTC') AS ts,
  concat('gw-', toString(h1 % 4)) AS gateway_id,
  concat('/v1/models/', model, '/predict') AS route,
  model,
  concat('v', toString(h2 % 3 + 1)) AS version,
  ['stable','stable','stable','canary','shadow'][h2 % 5 + 1] AS role,
  if(h2 % 5 = 3, concat('ro-', model), '') AS rollout_id,
  concat('consumer-', toString(toUInt32(pow(h3 / 18446744073709551616., 2) * 500))) AS consumer_id,
  'POST' AS method,
  [200,200,200,200,200,200,200,200,200,400,429,502,504][h4 % 13 + 1] AS status,
  ['ok','ok','ok','ok','ok','ok','ok','ok','ok','bad_request','rate_limited','upstream_error','timeout'][h4 % 13 + 1] AS outcome,
  '' AS error_class,
  toFloat32(5 + (h1 % 1000) / 10.) AS latency_ms,
  toFloat32(4 + (h1 % 1000) / 10.) AS upstream_latency_ms,
  toFloat32(3 + (h1 % 500) / 10.) AS ttfb_ms,
  100 + h2 % 2000 AS request_bytes,
  50 + h3 % 500 AS response_bytes,
  concat(lower(hex(sipHash128(payload, 'in1'))), lower(hex(sipHash128(payload, 'in2')))) AS input_hash,
  concat(lower(hex(sipHash128(number, 'out1'))), lower(hex(sipHash128(number, 'out2')))) AS output_hash,
  'k1' AS hash_key_id,
  concat('{"text":"synthetic request ', toString(payload), ' from <EMAIL>"}') AS input_redacted,
  map('EMAIL', toUInt32(1)) AS redactions,
  if(h4 % 13 < 9, ['positive','negative','neutral'][h1 % 3 + 1], NULL) AS prediction_label,
  if(h4 % 13 < 9, (h1 % 1000) / 1000., NULL) AS prediction_score,
  NULL AS tokens_in, NULL AS tokens_out,
  '' AS correlation_id,
  lower(hex(sipHash128(number, 'trace'))) AS trace_id,
  substring(lower(hex(sipHash128(number, 'span'))), 1, 16) AS span_id,
  '' AS cache,
  '' AS upstream_model,
  NULL AS ttft_ms, NULL AS itl_mean_ms, NULL AS itl_p95_ms, NULL AS output_tps, NULL AS cost_usd, false AS tokens_estimated,
  1 AS schema_version,
  fromUnixTimestamp64Milli(ms, 'UTC') AS ingested_at,
  'seed' AS src_topic, 0 AS src_partition, number AS src_offset
FROM (
  SELECT number,
    toInt64({start:Int64} + intDiv(number * {span:UInt64}, {n:UInt64})) AS ms,
    sipHash64(number, 1) AS h1, sipHash64(number, 2) AS h2, sipHash64(number, 3) AS h3, sipHash64(number, 4) AS h4,
    sipHash64(number, 5) % greatest(intDiv({n:UInt64}, 2), 1) AS payload,
    ['sentiment','fraud','ranker','llm-chat'][sipHash64(number, 6) % 4 + 1] AS model,
    concat(leftPad(lower(hex(ms)), 12, '0'), '7', substring(lower(hex(sipHash128(number, 'id'))), 1, 3), '8',
           substring(lower(hex(sipHash128(number, 'id'))), 4, 15)) AS u
  FROM numbers({n:UInt64})
)
SETTINGS max_insert_threads = 2`;

/** Inserts `rows` synthetic events in one statement (a month ending at `endMs`). Returns the time taken (ms). */
export async function seedRequests(wh: Warehouse, opts: SeedOptions): Promise<number> {
  const span = (opts.days ?? 30) * 86_400_000;
  const t0 = performance.now();
  await wh.command('DETACH TABLE IF EXISTS {db}.requests_1m_mv');
  try {
    await wh.command(SEED_SQL, { start: opts.endMs - span + 1, span, n: opts.rows });
  } finally {
    await wh.command('ATTACH TABLE IF NOT EXISTS {db}.requests_1m_mv');
  }
  return performance.now() - t0;
}

/** A full `requests` row (the event contract plus its source). */
export function knownRow(over: Record<string, unknown>): Record<string, unknown> {
  return {
    event_id: uuidv7(), ts: Date.now(), gateway_id: 'gw-known', route: '/v1/models/sentiment/predict', model: 'sentiment', version: 'v1',
    role: 'stable', rollout_id: '', consumer_id: 'known', method: 'POST', status: 200, outcome: 'ok', error_class: '',
    latency_ms: 12.5, upstream_latency_ms: 11, ttfb_ms: 9, request_bytes: 64, response_bytes: 32,
    input_hash: 'f'.repeat(64), output_hash: 'e'.repeat(64), hash_key_id: 'k1', input_redacted: '{"text":"hello <EMAIL>"}',
    redactions: { EMAIL: 1 }, prediction_label: 'positive', prediction_score: 0.75, tokens_in: null, tokens_out: null,
    correlation_id: '', trace_id: '', span_id: '', cache: '', schema_version: 1, src_topic: 'known', src_partition: 0, src_offset: 0,
    ...over,
  };
}

/** The known rows and the answers the tests expect. */
export interface KnownData {
  /** A consumer that exists only in the known rows. */
  consumer: string;
  /** Its rows (ts ms, model, version, outcome, event_id), newest first. */
  consumerRows: Array<{ ts: number; model: string; version: string; outcome: string; event_id: string }>;
  /** A payload and the event ids of the requests that sent it (3 consumers). */
  payload: string;
  payloadHash: string;
  payloadEvents: string[];
  /** A primary request and its shadow copy, sharing one trace id. */
  primaryEventId: string;
  shadowEventId: string;
  traceId: string;
  /** Consumer ids shaped like SQL injection attempts, one row each. */
  hostileConsumers: string[];
}

/** Inserts the known rows (through the view) ending at `endMs`. */
export async function insertKnownRows(wh: Warehouse, hasher: Hasher, endMs: number): Promise<KnownData> {
  const consumer = 'acme-audit-7';
  const rows: Record<string, unknown>[] = [];
  const consumerRows: KnownData['consumerRows'] = [];
  for (let i = 0; i < 240; i++) {
    const ts = endMs - (i + 1) * 3 * 3_600_000 + 17; // every 3 hours back over 30 days
    const r = {
      ts, model: i % 2 ? 'fraud' : 'sentiment', version: `v${(i % 3) + 1}`, outcome: i % 10 === 0 ? 'timeout' : 'ok', event_id: uuidv7(),
    };
    consumerRows.push(r);
    rows.push(knownRow({ ...r, consumer_id: consumer, status: r.outcome === 'ok' ? 200 : 504, route: `/v1/models/${r.model}/predict`, src_offset: i }));
  }
  const payload = '{"text": "my email is jane.doe@example.com", "account": 42}';
  const payloadHash = hasher.hashPayload(payload, 'application/json');
  const payloadEvents: string[] = [];
  ['acme-audit-7-other', 'consumer-3', 'beta-labs'].forEach((c, i) => {
    for (let j = 0; j <= i; j++) {
      const id = uuidv7();
      payloadEvents.push(id);
      rows.push(knownRow({ event_id: id, ts: endMs - (i * 7 + j + 1) * 86_400_000 + 5000, consumer_id: c, input_hash: payloadHash, src_offset: 1000 + i * 10 + j }));
    }
  });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const primaryEventId = uuidv7();
  const shadowEventId = uuidv7();
  rows.push(knownRow({ event_id: primaryEventId, ts: endMs - 3_600_000, consumer_id: 'trace-owner', trace_id: traceId, span_id: '00f067aa0ba902b7', src_offset: 2000 }));
  rows.push(knownRow({
    event_id: shadowEventId, ts: endMs - 3_600_000 + 4, consumer_id: 'trace-owner', role: 'shadow', version: 'v2', trace_id: traceId,
    correlation_id: primaryEventId, src_offset: 2001,
  }));
  const hostileConsumers = [
    "x' OR '1'='1", "'; DROP TABLE requests; --", 'a\\\' OR 1=1 --', '{db}', '{f_0:String}', "') UNION SELECT * FROM system.tables --",
  ];
  hostileConsumers.forEach((c, i) => rows.push(knownRow({ consumer_id: c, ts: endMs - 7_200_000 + i, src_offset: 3000 + i })));
  await wh.insert('requests', rows);
  return { consumer, consumerRows, payload, payloadHash, payloadEvents, primaryEventId, shadowEventId, traceId, hostileConsumers };
}
