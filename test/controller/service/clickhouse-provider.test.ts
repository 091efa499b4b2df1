/**
 * The ClickHouse MetricsProvider on the embedded engine over the migrated schema: counts by
 * outcome and errors per arm over exactly [from, to), arms by version with roles stable/canary
 * only (shadow, fallback and pinned rows left out), a deterministic bounded latency sample equal
 * to the rows with the smallest cityHash64(event_id), scores, labels, shadow agreement joined on
 * correlation_id, custom SQL with bound parameters, and bad custom SQL refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateInput } from '../../../services/controller/analysis/input.ts';
import { ClickHouseMetricsProvider } from '../../../services/controller/service/providers/clickhouse.ts';
import { checkCustomSql } from '../../../services/controller/service/providers/custom-sql.ts';
import { parseRolloutSpec } from '../../../services/controller/rollout/spec.ts';
import type { TelemetryEvent } from '../../../services/telemetry/event.ts';
import { toRequestRow } from '../../../services/warehouse/request-rows.ts';
import type { Warehouse } from '../../../services/warehouse/warehouse.ts';
import { sampleEvent } from '../../support/events.ts';
import { embeddedWarehouse } from '../../warehouse/support.ts';

// Recent (the requests TTL drops old rows on insert), and not minute-aligned.
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000 + 7_250;
const WINDOW = { from: T0, to: T0 + 10_000 };

async function insert(wh: Warehouse, events: TelemetryEvent[]): Promise<void> {
  await wh.insert('requests', events.map((e, i) => toRequestRow(e, { topic: 't', partition: 0, offset: i })));
}

const spec = (over: Record<string, unknown> = {}) => parseRolloutSpec({
  id: 'r1', model: 'm', stable: 'v1', canary: 'v2', analysis: { sampleSize: 50 },
  metrics: [
    { kind: 'error_rate' }, { kind: 'latency' }, { kind: 'label_mix' }, { kind: 'score_shift' }, { kind: 'shadow_agreement' },
    {
      kind: 'custom_sql', name: 'avg_latency', direction: 'higher_is_worse',
      sql: `SELECT avg(latency_ms) FROM {db}.requests WHERE model = {model:String} AND version = {version:String}
            AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')} AND role IN ('stable', 'canary')`,
    },
  ],
  ...over,
});

test('clickhouse provider: one window of both arms, exactly as ClickHouse holds it', async (t) => {
  const wh = await embeddedWarehouse(t);
  const ev = (over: Partial<TelemetryEvent>) => sampleEvent({ model: 'm', ts: T0 + 1000, ...over });
  const events: TelemetryEvent[] = [];
  const stableIds: string[] = [];
  for (let i = 0; i < 200; i++) {
    const outcome = i < 4 ? 'upstream_error' : i === 4 ? 'timeout' : i < 7 ? 'rate_limited' : 'ok';
    // Role labels follow the gateway's routing state, not the rollout: a stable row labelled canary still is stable's.
    const e = ev({ version: 'v1', role: i % 50 === 0 ? 'canary' : 'stable', ts: T0 + i * 40, outcome, latency_ms: 10 + (i % 20), prediction_label: i % 4 === 0 ? 'b' : 'a', prediction_score: (i % 10) / 10 });
    events.push(e);
    stableIds.push(e.event_id);
  }
  for (let i = 0; i < 60; i++) {
    events.push(ev({ version: 'v2', role: 'canary', ts: T0 + 100 + i * 150, outcome: i < 5 ? 'upstream_error' : 'ok', latency_ms: 20 + i, prediction_label: 'a', prediction_score: 0.5 }));
  }
  // Not part of the comparison: other roles, other model, outside the window.
  events.push(ev({ version: 'v2', role: 'fallback' }), ev({ version: 'v2', role: 'pinned' }), ev({ version: 'v1', role: 'pinned', outcome: 'timeout' }));
  events.push(ev({ model: 'other', version: 'v2', role: 'canary' }), ev({ version: 'v2', role: 'canary', ts: T0 - 1 }), ev({ version: 'v1', role: 'stable', ts: T0 + 10_000 }));
  // Shadow copies of ten stable requests to v2: 7 agree, 2 give another label, 1 fails; one copies a failed primary.
  for (let i = 0; i < 10; i++) {
    const primary = events[10 + i]!;
    const label = i < 7 ? primary.prediction_label : 'zzz';
    events.push(ev({ version: 'v2', role: 'shadow', ts: primary.ts, correlation_id: primary.event_id, prediction_label: label, outcome: i === 9 ? 'upstream_error' : 'ok' }));
  }
  events.push(ev({ version: 'v2', role: 'shadow', correlation_id: events[0]!.event_id, prediction_label: 'a' }));
  await insert(wh, events);

  const provider = new ClickHouseMetricsProvider({ warehouse: wh });
  const input = await provider.collect(spec(), WINDOW);
  validateInput(input, WINDOW, 'r1');
  assert.deepEqual(input.window, WINDOW);
  assert.equal(input.stable.requests, 200);
  assert.deepEqual(input.stable.outcomes, { upstream_error: 4, timeout: 1, rate_limited: 2, ok: 193 });
  assert.equal(input.stable.errors, 5, 'upstream_error + timeout; rate_limited is the caller\'s');
  assert.equal(input.canary.requests, 60);
  assert.equal(input.canary.errors, 5);
  assert.equal(input.stable.latencySample.length, 50);
  assert.equal(input.canary.latencySample.length, 50);
  assert.ok(input.stable.latencyQuantiles && input.stable.latencyQuantiles.p50! >= 10 && input.stable.latencyQuantiles.p99! <= 29);
  assert.deepEqual(input.stable.labelCounts, { a: 150, b: 50 });
  assert.deepEqual(input.canary.labelCounts, { a: 60 });
  assert.equal(input.stable.scoreSample!.length, 50);
  assert.deepEqual(input.canary.shadow, { compared: 10, agreed: 7 });
  assert.equal(input.stable.shadow, undefined);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(input.stable.custom!.avg_latency! - avg(events.slice(0, 200).map((e) => e.latency_ms))) < 1e-6);
  assert.ok(Math.abs(input.canary.custom!.avg_latency! - avg(events.slice(200, 260).map((e) => e.latency_ms))) < 1e-6);

  // The sample is deterministic: the same rows every time, the 50 smallest cityHash64(event_id).
  const again = await provider.collect(spec(), WINDOW);
  assert.deepEqual(again.stable.latencySample, input.stable.latencySample);
  const expected = await wh.query<{ l: number }>(
    `SELECT latency_ms AS l FROM {db}.requests WHERE model = 'm' AND version = 'v1' AND role IN ('stable', 'canary')
     AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
     ORDER BY cityHash64(event_id) LIMIT 50`, WINDOW);
  const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
  assert.deepEqual(sorted(input.stable.latencySample), sorted(expected.map((r) => Number(r.l))));
});

test('clickhouse provider: an empty window is zeros; metrics it does not need are not queried', async (t) => {
  const wh = await embeddedWarehouse(t);
  const provider = new ClickHouseMetricsProvider({ warehouse: wh });
  const input = await provider.collect(spec({ metrics: [{ kind: 'error_rate' }] }), WINDOW);
  assert.deepEqual(input.stable, { requests: 0, outcomes: {}, errors: 0, latencySample: [] });
  assert.deepEqual(input.canary, { requests: 0, outcomes: {}, errors: 0, latencySample: [] });
});

test('clickhouse provider: custom SQL must be one SELECT; a failing query fails the window', async (t) => {
  assert.throws(() => checkCustomSql('DROP TABLE x'), /MLG_CTL_CUSTOM_SQL_INVALID|must be a SELECT/);
  assert.throws(() => checkCustomSql('SELECT 1; DROP TABLE x'), /single statement/);
  assert.throws(() => checkCustomSql('SELECT 1 SETTINGS max_threads = 1'), /SETTINGS/);
  assert.equal(checkCustomSql("SELECT count() FROM {db}.requests WHERE route = 'a;b';"), "SELECT count() FROM {db}.requests WHERE route = 'a;b'");
  const wh = await embeddedWarehouse(t);
  const provider = new ClickHouseMetricsProvider({ warehouse: wh });
  const bad = spec({ metrics: [{ kind: 'custom_sql', name: 'x', direction: 'higher_is_worse', sql: 'SELECT no_such_column FROM {db}.requests' }] });
  await assert.rejects(provider.collect(bad, WINDOW), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MLG_CTL_COLLECT_FAILED');
    assert.match(err.message, /custom x query failed/);
    return true;
  });
  assert.throws(() => new ClickHouseMetricsProvider({ warehouse: wh, maxSampleSize: 0 }), /maxSampleSize/);
});
