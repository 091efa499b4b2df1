/**
 * Canary analysis on LLM token timing, from rows in the embedded ClickHouse: the provider samples
 * `ttft_ms` and `output_tps` over the rows that have them (plain requests have NULL), and the
 * latency metrics on those fields catch a canary whose time to first token doubled, or whose
 * output rate halved, and accept one that streams like stable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldMetrics, initMetrics, judge } from '../../../services/controller/analysis/evaluate.ts';
import { validateInput } from '../../../services/controller/analysis/input.ts';
import { ClickHouseMetricsProvider } from '../../../services/controller/service/providers/clickhouse.ts';
import { parseRolloutSpec } from '../../../services/controller/rollout/spec.ts';
import type { TelemetryEvent } from '../../../services/telemetry/event.ts';
import { toRequestRow } from '../../../services/warehouse/request-rows.ts';
import type { Warehouse } from '../../../services/warehouse/warehouse.ts';
import { sampleEvent } from '../../support/events.ts';
import { embeddedWarehouse } from '../../warehouse/support.ts';
import { lognormalGrid } from '../helpers.ts';

// Recent (the requests TTL drops old rows on insert), and not minute-aligned.
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000 + 7_250;
const WINDOW_MS = 10_000;
const WINDOWS = 8;

const spec = parseRolloutSpec({
  id: 'r-llm', model: 'chat', stable: 'v1', canary: 'v2', analysis: { sampleSize: 200 },
  metrics: [{ kind: 'latency', field: 'ttft_ms', quantile: 'p95' }, { kind: 'latency', field: 'output_tps', direction: 'lower_is_worse' }],
});

/** Each window: 150 stable and 60 canary streams, plus 30 plain requests per arm without token timing. */
async function seed(wh: Warehouse, canaryTtft: number, canaryTps: number): Promise<void> {
  const ttft = lognormalGrid(150, 400, 0.4);
  const tps = lognormalGrid(150, 50, 0.3);
  const events: TelemetryEvent[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    const at = (i: number, n: number) => T0 + w * WINDOW_MS + Math.floor((i * WINDOW_MS) / n);
    const ev = (over: Partial<TelemetryEvent>) => sampleEvent({ model: 'chat', route: '/v1/chat/completions', latency_ms: 900, ...over });
    for (let i = 0; i < 150; i++) events.push(ev({ version: 'v1', role: 'stable', ts: at(i, 150), ttft_ms: ttft[i]!, itl_mean_ms: 20, itl_p95_ms: 30, output_tps: tps[i]! }));
    for (let i = 0; i < 60; i++) {
      const j = (i * 5 + w) % 150;
      events.push(ev({ version: 'v2', role: 'canary', ts: at(i, 60), ttft_ms: ttft[j]! * canaryTtft, itl_mean_ms: 20, itl_p95_ms: 30, output_tps: tps[j]! * canaryTps }));
    }
    for (let i = 0; i < 30; i++) for (const [version, role] of [['v1', 'stable'], ['v2', 'canary']] as const) events.push(ev({ version, role, ts: at(i, 30) }));
  }
  await wh.insert('requests', events.map((e, i) => toRequestRow(e, { topic: 't', partition: 0, offset: i })));
}

/** Collects and folds every window; returns each metric's status. */
async function analyse(wh: Warehouse): Promise<string[]> {
  const provider = new ClickHouseMetricsProvider({ warehouse: wh });
  let states = initMetrics(spec);
  for (let w = 0; w < WINDOWS; w++) {
    const window = { from: T0 + w * WINDOW_MS, to: T0 + (w + 1) * WINDOW_MS };
    const input = await provider.collect(spec, window);
    validateInput(input, window, spec.id);
    assert.equal(input.canary.requests, 90);
    assert.equal(input.canary.fieldSamples?.ttft_ms?.length, 60, 'only the rows with a ttft are sampled');
    assert.equal(input.stable.fieldSamples?.output_tps?.length, 150);
    states = foldMetrics(states, input, { stepElapsedS: (w + 1) * 10 });
  }
  return states.map((s) => judge(s).status);
}

test('token timing analysis: a canary whose ttft doubled is a regression (its output rate is not)', async (t) => {
  const wh = await embeddedWarehouse(t);
  await seed(wh, 2, 1);
  assert.deepEqual(await analyse(wh), ['regressed', 'accepted']);
});

test('token timing analysis: the same ttft and output rate are no regression; half the output rate is one', async (t) => {
  const wh = await embeddedWarehouse(t);
  await seed(wh, 1, 1);
  assert.deepEqual(await analyse(wh), ['accepted', 'accepted']);
  const slow = await embeddedWarehouse(t);
  await seed(slow, 1, 0.5);
  assert.deepEqual(await analyse(slow), ['accepted', 'regressed']);
});
