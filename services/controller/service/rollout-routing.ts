/**
 * A decision's routing as the model's next routing state: the controller's side of the control
 * channel on top of the routing follower (routing/follower.ts), which keeps the latest state seen,
 * hands out the generation and publishes.
 *
 * A rollout owns its model's weights: stable and canary get the decision's weights (stable
 * active, canary active or tripped); any other version listed in the current state is kept with
 * weight 0 and its state; the fallback is the spec's, else the current state's (unless it is the
 * canary). An admin change made during a rollout stands until the rollout's next weight change.
 */
import type { RoutingFollower } from '../../routing/follower.ts';
import type { RoutingState, VersionRouting } from '../../routing/state.ts';
import type { Routing } from '../rollout/decision.ts';
import type { ResolvedRolloutSpec } from '../rollout/spec.ts';

/** Why a state is published. */
export interface RoutingCauseInput {
  /** The controller instance, or the operator of a manual decision. */
  actor: string;
  reason: string;
  /** The decision's id. */
  id: string;
  at: number;
}

/** The next state of the rollout's model for a decision's routing (takes a generation from `follower`). */
export function rolloutState(follower: RoutingFollower, spec: ResolvedRolloutSpec, routing: Routing, cause: RoutingCauseInput): RoutingState {
  const cur = follower.current(spec.model);
  const versions = new Map<string, VersionRouting>();
  versions.set(spec.stable, { name: spec.stable, weight: routing.stable.weight, state: 'active' });
  versions.set(spec.canary, { name: spec.canary, weight: routing.canary.weight, state: routing.canary.state });
  for (const v of cur?.versions ?? []) if (!versions.has(v.name)) versions.set(v.name, { name: v.name, weight: 0, state: v.state });
  const inherited = cur?.fallback && cur.fallback !== spec.canary ? cur.fallback : null;
  const fallback = routing.fallback ?? inherited;
  if (fallback && !versions.has(fallback)) versions.set(fallback, { name: fallback, weight: 0, state: 'active' });
  return {
    model: spec.model, generation: follower.nextGeneration(spec.model, cause.at), versions: [...versions.values()], fallback,
    cause: { kind: 'controller', actor: cause.actor.slice(0, 200), reason: cause.reason.slice(0, 2000), id: cause.id.slice(0, 100), at: Math.floor(cause.at) },
    rollout_id: spec.id,
  };
}
