/**
 * Synthetic traffic in aggregate: for one analysis window, each arm's request and outcome counts
 * (Poisson and binomial draws) and a bounded latency/score sample, as a ClickHouse provider would
 * return them. Individual requests are never simulated, so a thousand rollouts take seconds.
 * Errored requests draw latencies from the same distribution as the others (a simplification).
 */
import type { Outcome } from '../../telemetry/event.ts';
import { ERROR_OUTCOMES, type AnalysisInput, type AnalysisWindow, type ArmWindow } from '../analysis/input.ts';
import { binomial, createRng, poisson, seedFor, type Rng } from './random.ts';
import type { ArmModel, Scenario } from './scenario.ts';

/** A change of the canary's weight at a time (ms since the start of the run). */
export interface WeightChange {
  readonly at: number;
  readonly weight: number;
}

function lastAtOrBefore<T>(list: readonly (readonly [number, ...unknown[]])[], tS: number, pick: (e: (typeof list)[number]) => T): T {
  let chosen = list[0]!;
  for (const e of list) if (e[0] <= tS) chosen = e;
  return pick(chosen);
}

function weightAt(weights: readonly WeightChange[], t: number): number {
  let w = 0;
  for (const c of weights) if (c.at <= t) w = c.weight;
  return w;
}

interface Segment {
  readonly n: number;
  readonly model: ArmModel;
  readonly durS: number;
}

const ERROR_SET: ReadonlySet<Outcome> = new Set(ERROR_OUTCOMES);

/** Standard normals of one arm and noise interval: the same for a given run whatever the windows. */
export type NoiseSource = (arm: 'stable' | 'canary', intervalS: number, index: number) => Readonly<{ err: number; lat: number }>;

/** A run's noise: per arm and interval, two normals from a generator seeded by (run seed, arm, interval). */
export function noiseSource(runSeed: number): NoiseSource {
  const cache = new Map<string, { err: number; lat: number }>();
  return (arm, intervalS, index) => {
    const key = `${arm}:${intervalS}:${index}`;
    let v = cache.get(key);
    if (!v) {
      const rng = createRng(seedFor((runSeed ^ (arm === 'canary' ? 0x5bd1e995 : 0x1b873593)) >>> 0, index));
      v = { err: rng.normal(), lat: rng.normal() };
      cache.set(key, v);
    }
    return v;
  };
}

/** The model with error-class rates times errMul (capped so all rates add up to at most 1) and latencies times e^latLog. */
function adjusted(model: ArmModel, errMul: number, latLog: number): ArmModel {
  if (errMul === 1 && latLog === 0) return model;
  const rates: Partial<Record<Outcome, number>> = {};
  let errTotal = 0;
  let other = 0;
  for (const [o, r] of Object.entries(model.outcomeRates) as [Outcome, number][]) {
    if (ERROR_SET.has(o)) errTotal += r * errMul;
    else other += r;
  }
  const cap = errTotal > 1 - other && errTotal > 0 ? (1 - other) / errTotal : 1;
  for (const [o, r] of Object.entries(model.outcomeRates) as [Outcome, number][]) rates[o] = ERROR_SET.has(o) ? r * errMul * cap : r;
  return { ...model, outcomeRates: rates, latency: model.latency.map((c) => ({ ...c, mu: c.mu + latLog })) };
}

/** The times (ms) the canary's warm-ups start: each weight change to a positive weight (per step), or the first one (per version). */
function warmupStarts(weights: readonly WeightChange[], per: 'step' | 'version'): number[] {
  const starts: number[] = [];
  let prev = 0;
  for (const c of weights) {
    if (c.weight > 0 && c.weight !== prev) starts.push(c.at);
    prev = c.weight;
  }
  return per === 'version' ? starts.slice(0, 1) : starts;
}

/** The arm's model at time a (ms): noise of its interval, and the canary's warm-up. */
function effective(model: ArmModel, arm: 'stable' | 'canary', a: number, weights: readonly WeightChange[], noise: NoiseSource | undefined): ArmModel {
  let errMul = 1;
  let latLog = 0;
  if (model.noise && noise) {
    const z = noise(arm, model.noise.intervalS, Math.floor(a / (model.noise.intervalS * 1000)));
    const se = model.noise.errorSigma;
    errMul *= Math.exp(se * z.err - (se * se) / 2);
    latLog += model.noise.latencySigma * z.lat;
  }
  if (arm === 'canary' && model.warmup) {
    const wu = model.warmup;
    if (warmupStarts(weights, wu.per).some((c) => a >= c && a < c + wu.seconds * 1000)) {
      errMul *= wu.errorFactor;
      latLog += Math.log(wu.latencyFactor);
    }
  }
  return adjusted(model, errMul, latLog);
}

function drawLatency(rng: Rng, model: ArmModel): number {
  const comps = model.latency;
  let c = comps[0]!;
  if (comps.length > 1) {
    let u = rng.uniform();
    for (const x of comps) {
      c = x;
      if ((u -= x.weight) <= 0) break;
    }
  }
  return Math.exp(c.mu + c.sigma * rng.normal());
}

function buildArm(rng: Rng, segs: readonly Segment[], sampleSize: number, isCanary: boolean): ArmWindow {
  const outcomes: Partial<Record<Outcome, number>> = {};
  let requests = 0;
  let errors = 0;
  const labelCounts: Record<string, number> = {};
  let hasLabels = false;
  for (const s of segs) {
    requests += s.n;
    let remaining = s.n;
    let remainingP = 1;
    for (const [o, r] of Object.entries(s.model.outcomeRates) as [Outcome, number][]) {
      const c = remainingP > 0 ? binomial(rng, remaining, Math.min(1, r / remainingP)) : 0;
      remaining -= c;
      remainingP -= r;
      if (c) outcomes[o] = (outcomes[o] ?? 0) + c;
      if (ERROR_SET.has(o)) errors += c;
    }
    outcomes.ok = (outcomes.ok ?? 0) + remaining;
    if (s.model.labels) {
      hasLabels = true;
      let left = s.n;
      let leftP = 1;
      for (const [label, p] of s.model.labels) {
        const c = leftP > 0 ? binomial(rng, left, Math.min(1, p / leftP)) : 0;
        left -= c;
        leftP -= p;
        if (c) labelCounts[label] = (labelCounts[label] ?? 0) + c;
      }
    }
  }
  // Uniform sample of min(requests, N) over the window: share the slots out over the segments.
  let slots = Math.min(requests, sampleSize);
  let pop = requests;
  const latencySample: number[] = [];
  const scoreSample: number[] = [];
  let hasScores = false;
  segs.forEach((s, i) => {
    const h = i === segs.length - 1 ? slots : Math.min(s.n, slots, binomial(rng, slots, pop > 0 ? s.n / pop : 0));
    slots -= h;
    pop -= s.n;
    for (let j = 0; j < h; j++) latencySample.push(drawLatency(rng, s.model));
    if (s.model.scores) {
      hasScores = true;
      const { mean, sd } = s.model.scores;
      for (let j = 0; j < h; j++) scoreSample.push(1 / (1 + Math.exp(-(mean + sd * rng.normal()))));
    }
  });
  let shadow: { compared: number; agreed: number } | undefined;
  if (isCanary) {
    for (const s of segs) {
      if (!s.model.shadow) continue;
      const compared = poisson(rng, s.model.shadow.rps * s.durS);
      shadow = { compared: (shadow?.compared ?? 0) + compared, agreed: (shadow?.agreed ?? 0) + binomial(rng, compared, s.model.shadow.agreement) };
    }
  }
  return {
    requests, outcomes, errors, latencySample,
    ...(hasScores ? { scoreSample } : {}),
    ...(hasLabels ? { labelCounts } : {}),
    ...(shadow ? { shadow } : {}),
  };
}

/**
 * Both arms' numbers for one window (times in ms since the run started), given the canary's weight
 * history. The window is cut wherever the weight, the request rate or an arm's behaviour changes.
 */
export function collectWindow(
  sc: Scenario, rolloutId: string, window: AnalysisWindow, weights: readonly WeightChange[], rng: Rng, sampleSize: number, noise?: NoiseSource,
): AnalysisInput {
  const cuts = new Set<number>([window.from, window.to]);
  const inside = (t: number) => t > window.from && t < window.to;
  for (const c of weights) if (inside(c.at)) cuts.add(c.at);
  for (const [at] of sc.rps) if (inside(at * 1000)) cuts.add(at * 1000);
  for (const [at] of sc.periods) if (inside(at * 1000)) cuts.add(at * 1000);
  // Periods timed from the canary's first weight of 100%.
  const full = weights.find((c) => c.weight >= 100)?.at ?? null;
  const after = full === null ? [] : sc.afterPromotion.map(([s, st, ca]) => [full + s * 1000, st, ca] as const);
  for (const [at] of after) if (inside(at)) cuts.add(at);
  // Noise intervals and warm-up ends of the models in force during the window.
  for (const [at, st, ca] of [...sc.periods.map(([a, x, y]) => [a * 1000, x, y] as const), ...after]) {
    if (at >= window.to) continue;
    for (const m of [st, ca]) {
      if (m.noise) {
        const step = m.noise.intervalS * 1000;
        for (let t = Math.ceil(window.from / step) * step; t < window.to; t += step) if (inside(t)) cuts.add(t);
      }
      if (m.warmup) for (const c of warmupStarts(weights, m.warmup.per)) if (inside(c + m.warmup.seconds * 1000)) cuts.add(c + m.warmup.seconds * 1000);
    }
  }
  const times = [...cuts].sort((a, b) => a - b);
  const stable: Segment[] = [];
  const canary: Segment[] = [];
  for (let i = 0; i + 1 < times.length; i++) {
    const a = times[i]!;
    const durS = (times[i + 1]! - a) / 1000;
    const w = weightAt(weights, a) / 100;
    const rps = lastAtOrBefore(sc.rps, a / 1000, (e) => e[1] as number);
    let [sModel, cModel] = lastAtOrBefore(sc.periods, a / 1000, (e) => [e[1], e[2]] as [ArmModel, ArmModel]);
    for (const [at, st, ca] of after) if (at <= a) [sModel, cModel] = [st, ca];
    stable.push({ n: poisson(rng, rps * (1 - w) * durS), model: effective(sModel, 'stable', a, weights, noise), durS });
    canary.push({ n: poisson(rng, rps * w * durS), model: effective(cModel, 'canary', a, weights, noise), durS });
  }
  return {
    rolloutId, window: { ...window },
    stable: buildArm(rng, stable, sampleSize, false),
    canary: buildArm(rng, canary, sampleSize, true),
  };
}
