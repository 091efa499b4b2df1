/**
 * A small, varied ClickHouse data set for the dashboard tests: three hours of traffic of two
 * models (a classifier with stable, canary and shadow versions; an LLM with token counts), four
 * consumers (one anonymous), every kind of outcome, redactions, a rollout's decisions with
 * evidence ending in a rollback, admin changes, and two erasures in `erasure_log`. Deterministic:
 * the same range gives the same rows.
 */
import { v7 as uuidv7 } from 'uuid';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { toRequestRow } from '../../services/warehouse/request-rows.ts';
import { recordAdminChanges, recordCanaryDecisions, type AdminChangeRow, type CanaryDecisionRow } from '../../services/ledger/rows.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';
import { sampleEvent } from '../support/events.ts';

/** The time range the seed covers (ms), aligned to minutes. */
export interface SeedRange {
  from: number;
  to: number;
}

/** What was seeded, for assertions. */
export interface SeedSummary {
  requests: number;
  models: string[];
  versions: string[];
  consumers: string[];
  rollouts: string[];
  decisions: number;
  adminChanges: number;
  erasures: number;
}

/** A three-hour range ending at the last full minute (recent: `requests` has a 30-day TTL). */
export function seedRange(now = Date.now()): SeedRange {
  const to = Math.floor(now / 60_000) * 60_000;
  return { from: to - 3 * 3_600_000, to };
}

const CONSUMERS = ['acme', 'globex', 'initech', ''];
const ROLLOUT = 'sentiment-v2-rollout';

/** Small deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function outcomeFor(r: number, errorShare: number): Pick<TelemetryEvent, 'outcome' | 'status' | 'error_class'> {
  if (r < errorShare * 0.6) return { outcome: 'upstream_error', status: 502, error_class: 'MLG_GW_UPSTREAM_STATUS' };
  if (r < errorShare) return { outcome: 'timeout', status: 504, error_class: 'MLG_GW_UPSTREAM_TIMEOUT' };
  if (r < errorShare + 0.02) return { outcome: 'bad_request', status: 400, error_class: 'MLG_GW_BAD_REQUEST' };
  if (r < errorShare + 0.03) return { outcome: 'rate_limited', status: 429, error_class: 'MLG_GW_RATE_LIMITED' };
  return { outcome: 'ok', status: 200, error_class: '' };
}

/** Token timing of a seeded LLM stream, from a small integer. */
function streamTiming(k: number): Pick<TelemetryEvent, 'ttft_ms' | 'itl_mean_ms' | 'itl_p95_ms' | 'output_tps'> {
  const itl = 15 + (k % 5) * 4;
  return { ttft_ms: 120 + (k % 9) * 35, itl_mean_ms: itl, itl_p95_ms: itl * 1.8, output_tps: Math.round(100_000 / itl) / 100 };
}

/** Telemetry events of the range. */
export function seedEvents(range: SeedRange): TelemetryEvent[] {
  const rand = rng(42);
  const events: TelemetryEvent[] = [];
  for (let minute = range.from; minute < range.to; minute += 60_000) {
    const canaryOn = minute >= range.from + 30 * 60_000;
    for (let i = 0; i < 24; i++) {
      const canary = canaryOn && i % 6 === 0;
      const version = canary ? 'v2' : 'v1';
      const ts = minute + Math.floor(rand() * 59_000);
      const label = rand() < 0.7 ? 'positive' : 'negative';
      const ev = sampleEvent({
        event_id: uuidv7({ msecs: ts }), ts, model: 'sentiment', version, role: canary ? 'canary' : 'stable',
        rollout_id: canaryOn ? ROLLOUT : '', consumer_id: CONSUMERS[i % CONSUMERS.length]!,
        route: '/v1/models/{model}/predict', ...outcomeFor(rand(), canary ? 0.08 : 0.01),
        latency_ms: (canary ? 40 : 25) + rand() * 60, upstream_latency_ms: 20 + rand() * 50, ttfb_ms: 15 + rand() * 30,
        prediction_label: label, prediction_score: label === 'positive' ? 0.6 + rand() * 0.4 : rand() * 0.4,
        redactions: i % 5 === 0 ? { EMAIL: 1 } : i % 7 === 0 ? { PHONE: 1, CARD: 1 } : {},
      });
      events.push(ev);
      if (i % 3 === 0) {
        // A shadow copy answering like its primary most of the time.
        const agree = rand() < 0.85;
        events.push(sampleEvent({
          ...ev, event_id: uuidv7({ msecs: ts + 5 }), ts: ts + 5, version: 'v3', role: 'shadow', correlation_id: ev.event_id,
          outcome: 'ok', status: 200, error_class: '', latency_ms: 30 + rand() * 80,
          prediction_label: agree ? ev.prediction_label : ev.prediction_label === 'positive' ? 'negative' : 'positive',
          prediction_score: Math.min(1, Math.max(0, (ev.prediction_score ?? 0.5) + (rand() - 0.5) * 0.2)),
        }));
      }
    }
    for (let i = 0; i < 6; i++) {
      const ts = minute + Math.floor(rand() * 59_000);
      const llm = sampleEvent({
        event_id: uuidv7({ msecs: ts }), ts, model: 'chat', version: 'llm-a', role: 'stable', consumer_id: CONSUMERS[(i + 1) % CONSUMERS.length]!,
        route: '/v1/chat/completions', ...outcomeFor(rand(), 0.02), latency_ms: 300 + rand() * 1500, ttfb_ms: 80 + rand() * 200,
        upstream_latency_ms: 280 + rand() * 1400, prediction_label: null, prediction_score: null,
        tokens_in: 20 + Math.floor(rand() * 200), tokens_out: 50 + Math.floor(rand() * 400), redactions: {},
        // Two in three are streams with token timing (derived from i and the minute: the random sequence stays as it was).
        ...(i % 3 === 2 ? {} : streamTiming(i + (minute / 60_000) % 7)),
      });
      // Priced at 0.15 and 0.60 USD per million input and output tokens.
      llm.cost_usd = Math.round((llm.tokens_in! * 0.15 + llm.tokens_out! * 0.6) * 1e4) / 1e10;
      events.push(llm);
    }
  }
  return events;
}

function evidence(weight: number, errorStat: number, latencyStat: number, at: number): Record<string, unknown> {
  return {
    v: 1, rolloutId: ROLLOUT, at, actor: 'controller', manual: null, phase: 'progressing', steps: [5, 10, 25, 50, 100], weight,
    verdicts: [
      { name: 'error_rate', status: errorStat > 4.6 ? 'fail' : 'pending', critical: true, statistic: errorStat, threshold: 4.6, acceptStatistic: 0, acceptThreshold: 4.6, summary: `error rate statistic ${errorStat}` },
      { name: 'latency_p95', status: latencyStat > 4.6 ? 'fail' : 'pass', critical: false, statistic: latencyStat, threshold: 4.6, acceptStatistic: 0, acceptThreshold: 4.6, summary: `p95 statistic ${latencyStat}` },
    ],
  };
}

/** The rollout's decisions: start at 5 %, waits, two promotions, then a rollback. */
export function seedDecisions(range: SeedRange): CanaryDecisionRow[] {
  const start = range.from + 30 * 60_000;
  const steps: Array<[number, string, number, number, string]> = [
    [0, 'manual_start', 0, 5, 'started by alice'],
    [20, 'wait', 5, 5, 'not enough samples yet (canary 240 of 500)'],
    [40, 'promote', 5, 10, 'error rate and latency within tolerance'],
    [70, 'promote', 10, 25, 'error rate and latency within tolerance'],
    [100, 'wait', 25, 25, 'error rate statistic rising'],
    [130, 'rollback', 25, 0, 'error rate above tolerance (critical metric failed)'],
  ];
  return steps.map(([min, action, before, after, reason], i) => {
    const ts = start + min * 60_000;
    return {
      decision_id: `${ROLLOUT}-${i + 1}`, ts, rollout_id: ROLLOUT, model: 'sentiment', stable_version: 'v1', canary_version: 'v2',
      step: Math.max(0, [5, 10, 25, 50, 100].indexOf(before)), weight_before: before, weight_after: after, action, reason,
      evidence: evidence(before, i * 1.1, 0.5 + i * 0.2, ts), actor: action.startsWith('manual_') ? 'alice' : 'controller', generation: i + 1,
    };
  });
}

/** Admin changes: a weight change, a trip and its reset, a reload. */
export function seedAdminChanges(range: SeedRange): AdminChangeRow[] {
  const at = (min: number) => range.from + min * 60_000;
  return [
    { change_id: 'ac-1', ts: at(10), actor: 'alice', action: 'set_weights', target: 'sentiment', before: { v1: 100 }, after: { v1: 95, v2: 5 }, generation: 1 },
    { change_id: 'ac-2', ts: at(60), actor: 'bob', action: 'trip', target: 'sentiment/v2', before: { state: 'active' }, after: { state: 'tripped' }, generation: 2 },
    { change_id: 'ac-3', ts: at(61), actor: 'bob', action: 'reset', target: 'sentiment/v2', before: { state: 'tripped' }, after: { state: 'active' }, generation: 3 },
    { change_id: 'ac-4', ts: at(90), actor: 'carol', action: 'reload', target: 'config', before: {}, after: { summary: 'no change' } },
  ];
}

/** Erasure-log rows as the audit's erasure writes them (selector hashes, never raw ids). */
export function seedErasures(range: SeedRange): Array<Record<string, unknown>> {
  const row = (i: number, min: number, kind: string, deleted: number) => ({
    erasure_id: `er-${i}`, ts: range.from + min * 60_000, actor: 'dpo', selector_kind: kind, selector_hash: String(i).repeat(64).slice(0, 64),
    hash_key_id: kind === 'input_hash' ? '' : 'k1', reason: `ticket GDPR-${100 + i}`, rows_deleted: JSON.stringify({ requests: deleted }),
    rows_remaining: JSON.stringify({ requests: 0 }), chain_id: 'audit-test', seq: i, prev_hash: '', hash: '',
  });
  return [row(1, 120, 'consumer', 12), row(2, 150, 'input_hash', 1)];
}

/** Inserts the whole data set into `wh` (migrated) and returns what it holds. */
export async function seedWarehouse(wh: Warehouse, range: SeedRange): Promise<SeedSummary> {
  const events = seedEvents(range);
  // ingested_at as the ingester would leave it: a second or two after the request.
  await wh.insert('requests', events.map((e, i) => ({
    ...toRequestRow(e, { topic: 'mlgate.telemetry.v1', partition: i % 3, offset: i }), ingested_at: e.ts + 1000 + (i % 5) * 400,
  })));
  const decisions = seedDecisions(range);
  await recordCanaryDecisions(wh, decisions);
  const changes = seedAdminChanges(range);
  await recordAdminChanges(wh, changes);
  const erasures = seedErasures(range);
  await wh.insert('erasure_log', erasures);
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  return {
    requests: events.length, models: uniq(events.map((e) => e.model)), versions: uniq(events.map((e) => e.version)),
    consumers: uniq(events.map((e) => e.consumer_id)), rollouts: [ROLLOUT], decisions: decisions.length, adminChanges: changes.length,
    erasures: erasures.length,
  };
}
