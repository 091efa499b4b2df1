/**
 * The simulator as a MetricsProvider: the same port the ClickHouse provider implements, so a
 * controller loop written against the port can be driven by synthetic traffic. (The batch
 * simulator in run.ts calls collectWindow directly to stay synchronous and fast.)
 */
import type { AnalysisInput, AnalysisWindow, MetricsProvider } from '../analysis/input.ts';
import type { ResolvedRolloutSpec } from '../rollout/spec.ts';
import type { Rng } from './random.ts';
import type { Scenario } from './scenario.ts';
import { collectWindow, noiseSource, type WeightChange } from './traffic.ts';

/** A provider over a scenario; `weights` reports the canary's weight history (times in ms since the start). */
export function simulatedProvider(sc: Scenario, rng: Rng, weights: () => readonly WeightChange[], noiseSeed = 1): MetricsProvider {
  const noise = noiseSource(noiseSeed);
  return {
    collect(rollout: ResolvedRolloutSpec, window: AnalysisWindow): Promise<AnalysisInput> {
      return Promise.resolve(collectWindow(sc, rollout.id, window, weights(), rng, rollout.analysis.sampleSize, noise));
    },
  };
}
