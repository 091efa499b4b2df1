/**
 * Cost in a canary's evidence: the events' `cost_usd` (a version's pricePerMillionTokens) read by
 * a `custom_sql` metric through the ClickHouse provider on the embedded engine, window by window.
 * A canary that costs 40% more per request than stable is flagged with that evidence (the recipe
 * in docs/llm.md, "Cost in a rollout"); one that costs the same is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClickHouseMetricsProvider } from '../../../services/controller/service/providers/clickhouse.ts';
import { nextWindow, tick } from '../../../services/controller/rollout/machine.ts';
import { parseRolloutSpec } from '../../../services/controller/rollout/spec.ts';
import { createRollout, type RolloutState } from '../../../services/controller/rollout/state.ts';
import type { Decision } from '../../../services/controller/rollout/decision.ts';
import type { TelemetryEvent } from '../../../services/telemetry/event.ts';
import { toRequestRow } from '../../../services/warehouse/request-rows.ts';
import { sampleEvent } from '../../support/events.ts';
import { embeddedWarehouse } from '../../warehouse/support.ts';

// Recent (the requests TTL drops old rows on insert).
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
const WINDOWS = 30;

const COST_SQL = `SELECT avg(cost_usd) FROM {db}.requests WHERE model = {model:String} AND version = {version:String}
  AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')} AND role IN ('stable', 'canary') AND cost_usd IS NOT NULL`;

/** 30 windows of 10 s: stable 100 requests at about 1 mUSD each, the canary 20 at `ratio` times that (±10% per request). */
function traffic(ratio: number): TelemetryEvent[] {
  const events: TelemetryEvent[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    for (let i = 0; i < 120; i++) {
      const canary = i >= 100;
      const base = 0.001 * (0.9 + 0.2 * ((i * 7 + w * 13) % 11) / 10);
      events.push(sampleEvent({
        model: 'chat', version: canary ? 'v2' : 'v1', role: canary ? 'canary' : 'stable', ts: T0 + w * 10_000 + i * 80,
        tokens_in: 100, tokens_out: 200, cost_usd: Math.round(base * (canary ? ratio : 1) * 1e10) / 1e10,
      }));
    }
  }
  return events;
}

async function run(t: import('node:test').TestContext, ratio: number): Promise<Decision[]> {
  const wh = await embeddedWarehouse(t);
  await wh.insert('requests', traffic(ratio).map((e, i) => toRequestRow(e, { topic: 't', partition: 0, offset: i })));
  const spec = parseRolloutSpec({
    id: 'r1', model: 'chat', stable: 'v1', canary: 'v2', tick: { intervalS: 10, lagS: 0 }, warmup: { seconds: 0 }, bake: { seconds: 0 },
    steps: [{ weight: 20, minDurationS: 3600, maxDurationS: 7200 }, 100],
    metrics: [{ kind: 'error_rate' }, { kind: 'custom_sql', name: 'cost_per_request', sql: COST_SQL, direction: 'higher_is_worse', tolerance: { relative: 0.1 }, critical: false }],
  });
  const provider = new ClickHouseMetricsProvider({ warehouse: wh });
  let state: RolloutState = tick(createRollout(spec), null, T0).state;
  const decisions: Decision[] = [];
  for (let now = T0 + 10_000; now <= T0 + WINDOWS * 10_000 && state.phase === 'progressing'; now += 10_000) {
    const w = nextWindow(state, now);
    const step = tick(state, w === null ? null : await provider.collect(spec, w), now);
    state = step.state;
    decisions.push(step.decision);
  }
  return decisions;
}

test('cost in a rollout: a canary 40% dearer per request is paused on a custom_sql metric over cost_usd, with both arms\' cost in the evidence', async (t) => {
  const decisions = await run(t, 1.4);
  const last = decisions.at(-1)!;
  assert.equal(last.action, 'pause', last.reason);
  assert.match(last.reason, /cost_per_request/);
  const m = last.evidence.metrics.find((x) => x.config.name === 'cost_per_request')!;
  const est = m.estimate as { lastCanary: number; lastStable: number; worseWindows: number; windows: number };
  const ratio = est.lastCanary / est.lastStable;
  assert.ok(ratio > 1.3 && ratio < 1.5, `canary/stable cost per request ${ratio.toFixed(3)}`);
  assert.equal(est.worseWindows, est.windows, 'every window dearer beyond the 10% tolerance');
  assert.ok(decisions.length < WINDOWS, `flagged after ${decisions.length} windows`);
});

test('cost in a rollout: a canary that costs the same is not flagged', async (t) => {
  const decisions = await run(t, 1);
  assert.ok(decisions.every((d) => d.action === 'wait' || d.action === 'start'), decisions.map((d) => `${d.action}: ${d.reason}`).join('\n'));
  assert.equal(decisions.length, WINDOWS);
});
