/**
 * The demo's settings in one place: the three model versions (their real models and the faults
 * of the bad build), the load, the two rollout specs (full and `--fast`), and the embedded config
 * the demo runs with (written to `<dataDir>/mlgate.yaml` so `mlgate audit --config` reads the
 * same data afterwards).
 *
 * The tolerances were chosen from measurements (docs/demo.md): on the demo corpus AFINN and VADER
 * agree on 87.5% of labels, their score distributions are 0.18 apart (KS) and their label shares
 * differ by up to 0.06, so a healthy VADER build passes score_shift (0.3), label_mix (0.1) and
 * shadow_agreement (20% disagreement allowed), while the bad build's 8% errors (stable: none) and
 * +25 ms fail error_rate (+5%, +2 points) and p95 latency (+10%, +5 ms).
 */
import { hashApiKey } from '../services/gateway/edge/api-keys.ts';
import type { ModelServerInput } from '../services/embedded/stand-in/model-server.ts';
import type { EmbeddedConfigInput } from '../services/embedded/config.ts';

/** The model the demo rolls out. */
export const DEMO_MODEL = 'sentiment';

/** Simulated inference time of every version (ms). */
const LATENCY = { medianMs: 15, p95Ms: 35 };

/** The three versions: v1 stable (AFINN), v2 a regressing VADER build, v3 a healthy VADER build. */
export const DEMO_VERSIONS: readonly (ModelServerInput & { description: string })[] = [
  { name: 'v1', model: 'afinn', latency: LATENCY, description: 'stable: AFINN-165 lexicon (sentiment package)' },
  { name: 'v2', model: 'vader', latency: LATENCY, errorRate: 0.08, extraLatencyMs: 25, description: 'canary: VADER with 8% errors and +25 ms (a bad build)' },
  { name: 'v3', model: 'vader', latency: LATENCY, description: 'canary: VADER, healthy' },
];

/**
 * The demo's consumers and their API keys (mlgate key form `mlg_<8 hex id>_<43 characters>`; these
 * are public DEMO keys). The gateway's config holds only their hashes (`gateway.consumers`, as
 * `mlgate keys` makes them); the load generator sends the keys as `x-api-key`, and the gateway
 * strips them before the model and records the consumer id, never the key.
 */
export const DEMO_CONSUMERS: Readonly<Record<string, string>> = Object.freeze({
  'web-shop': 'mlg_de000001_DEMO-web-shop-key-not-secret-xxxxxxxxxxxxxx',
  'support-bot': 'mlg_de000002_DEMO-support-bot-key-not-secret-xxxxxxxxxxx',
  'reviews-etl': 'mlg_de000003_DEMO-reviews-etl-key-not-secret-xxxxxxxxxxx',
});

/** Timing of one demo variant. */
export interface DemoTiming {
  rps: number;
  /** Traffic before the first rollout, so stable has a baseline (s). */
  warmupS: number;
  /** Longest wait for each rollout to finish (s). */
  rolloutDeadlineS: number;
  /** Share of requests copied to the canary as shadows (%). */
  shadowPercent: number;
  steps: readonly number[];
  stepDefaults: { minDurationS: number; minSamples: number; maxDurationS: number };
  tick: { intervalS: number; lagS: number };
  /** Seconds the promoted version bakes at 100% before the rollout ends (0: none). */
  bakeS: number;
}

/** `npm run demo`: about three to four minutes. */
export const FULL: DemoTiming = {
  rps: 50, warmupS: 10, rolloutDeadlineS: 600, shadowPercent: 25,
  steps: [10, 25, 50, 100], stepDefaults: { minDurationS: 30, minSamples: 300, maxDurationS: 300 }, tick: { intervalS: 5, lagS: 3 },
  bakeS: 20,
};

/** `mlgate demo --fast` (the end-to-end test): about a minute and a half. */
export const FAST: DemoTiming = {
  rps: 50, warmupS: 3, rolloutDeadlineS: 180, shadowPercent: 25,
  steps: [20, 50, 100], stepDefaults: { minDurationS: 10, minSamples: 100, maxDurationS: 120 }, tick: { intervalS: 2, lagS: 2 },
  bakeS: 0,
};

/** The rollout spec of `canary` against v1. */
export function demoRollout(canary: string, t: DemoTiming): Record<string, unknown> {
  return {
    id: `${DEMO_MODEL}-${canary}`, model: DEMO_MODEL, stable: 'v1', canary, fallback: 'v1',
    steps: [...t.steps], stepDefaults: t.stepDefaults, tick: t.tick, bake: { seconds: t.bakeS },
    metrics: [
      { kind: 'error_rate', tolerance: { relative: 0.05, absolute: 0.02 } },
      { kind: 'latency', quantile: 'p95', tolerance: { relative: 0.1, absolute: 5 } },
      { kind: 'score_shift', method: 'ks', critical: false, tolerance: { absolute: 0.3 } },
      { kind: 'label_mix', critical: false, tolerance: { absolute: 0.1 } },
      { kind: 'shadow_agreement', critical: false, tolerance: { absolute: 0.2 } },
    ],
  };
}

/** Options of {@link demoConfig}. */
export interface DemoConfigOptions {
  dataDir: string;
  /** Model server URLs by version. */
  models: Readonly<Record<string, string>>;
  /** Listen on free ports instead of the usual ones (tests, or when `npm start` is running). */
  anyPorts: boolean;
  /** Shadow copies to this version (the current canary), or none. */
  shadow?: { version: string; percent: number } | undefined;
}

/** The embedded config the demo runs with. */
export function demoConfig(o: DemoConfigOptions): EmbeddedConfigInput {
  const port = (p: number) => (o.anyPorts ? 0 : p);
  const versions = Object.fromEntries(Object.entries(o.models).map(([v, url]) => [v, {
    targets: [url], timeoutMs: 5000, health: { path: '/healthz', intervalMs: 5000 },
  }]));
  return {
    dataDir: o.dataDir,
    log: { level: 'info' },
    embedded: { modelServers: [], ui: { port: port(9467) }, auditApi: true, persistRouting: true },
    gateway: {
      id: 'demo',
      port: port(8080),
      admin: { port: port(8081), token: 'demo-admin-token-change-me' },
      models: {
        [DEMO_MODEL]: {
          versions, weights: { v1: 100, v2: 0, v3: 0 }, fallback: 'v1',
          prediction: { label: 'label', score: 'score' },
          ...(o.shadow ? { shadow: o.shadow } : {}),
        },
      },
      consumers: Object.fromEntries(Object.entries(DEMO_CONSUMERS).map(([id, key]) => [id, { keys: [hashApiKey(key)], models: [DEMO_MODEL] }])),
    },
    telemetry: { hashing: { key: 'mlgate-DEMO-hash-key-not-secret', keyId: 'demo1' } },
    ingester: { batch: { lingerMs: 250 }, localLog: { pollMs: 100 }, http: { port: port(9465) } },
    controller: {
      instanceId: 'demo', port: port(9466), loopMs: 250,
      tokens: [{ name: 'demo-operator', token: 'demo-operator-token-change-me-0001', role: 'operator' }],
    },
    audit: { port: port(8790), tokens: [{ name: 'demo-auditor', token: 'demo-auditor-token-change-me-00001', role: 'admin' }] },
  };
}
