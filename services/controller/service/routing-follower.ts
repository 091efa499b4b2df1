/**
 * The controller's side of the control channel: it follows the latest routing state of every
 * model (read to the end when it takes the lead, then live), and turns a decision's routing into
 * the next routing state of the model.
 *
 * Generations: the gateway's admin API takes `nextGeneration(current, now)` = max(current + 1,
 * now in ms) (routing/state.ts). The controller does the same over the latest state it
 * has seen from any writer, and never issues the same generation twice for a model, so its
 * states rise above the admin changes it has seen and above its own earlier ones.
 *
 * A rollout owns its model's weights: stable and canary get the decision's weights (stable
 * active, canary active or tripped); any other version listed in the current state is kept with
 * weight 0 and its state; the fallback is the spec's, else the current state's (unless it is the
 * canary). An admin change made during a rollout stands until the rollout's next weight change.
 *
 * Fencing: with a leadership epoch (leader.ts), {@link RoutingFollower.sync} (run when the
 * controller takes the lead) announces it on the control channel before anything is published,
 * and every published state carries it; readers refuse states of a lower epoch, so a deposed
 * leader's late writes do not route traffic.
 */
import type { ControlChannel } from '../../routing/channel.ts';
import { nextGeneration, type RoutingState, type VersionRouting } from '../../routing/state.ts';
import type { Logger } from '../../core/log.ts';
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

/** Follows the control channel and builds the controller's routing states. */
export class RoutingFollower {
  private readonly latest = new Map<string, RoutingState>();
  private readonly issued = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;

  /**
   * @param epoch the leadership epoch in force (undefined: no fencing, e.g. a lone controller)
   * @param instance who announces the epoch (the controller's id)
   */
  constructor(private readonly control: ControlChannel, private readonly log: Logger,
    private readonly epoch: () => number | undefined = () => undefined, private readonly instance = 'controller') {}

  /** Reads the channel to its end and follows it from then on; announces the leadership epoch, if any. */
  async sync(): Promise<void> {
    if (!this.unsubscribe) this.unsubscribe = this.control.subscribe((s) => this.note(s));
    for (const s of await this.control.readToEnd()) this.note(s);
    const epoch = this.epoch();
    if (epoch !== undefined && this.control.announceEpoch) {
      await this.control.announceEpoch(epoch, this.instance);
      this.log.info({ epoch }, 'leadership epoch announced on the control channel');
    }
  }

  /** The latest state seen for `model`. */
  current(model: string): RoutingState | undefined {
    return this.latest.get(model);
  }

  /** The next state of the model for a decision's routing. */
  build(spec: ResolvedRolloutSpec, routing: Routing, cause: RoutingCauseInput): RoutingState {
    const cur = this.latest.get(spec.model);
    const versions = new Map<string, VersionRouting>();
    versions.set(spec.stable, { name: spec.stable, weight: routing.stable.weight, state: 'active' });
    versions.set(spec.canary, { name: spec.canary, weight: routing.canary.weight, state: routing.canary.state });
    for (const v of cur?.versions ?? []) if (!versions.has(v.name)) versions.set(v.name, { name: v.name, weight: 0, state: v.state });
    const inherited = cur?.fallback && cur.fallback !== spec.canary ? cur.fallback : null;
    const fallback = routing.fallback ?? inherited;
    if (fallback && !versions.has(fallback)) versions.set(fallback, { name: fallback, weight: 0, state: 'active' });
    const generation = Math.max(nextGeneration(cur, cause.at), (this.issued.get(spec.model) ?? 0) + 1);
    this.issued.set(spec.model, generation);
    return {
      model: spec.model, generation, versions: [...versions.values()], fallback,
      cause: { kind: 'controller', actor: cause.actor.slice(0, 200), reason: cause.reason.slice(0, 2000), id: cause.id.slice(0, 100), at: Math.floor(cause.at) },
      rollout_id: spec.id,
    };
  }

  /**
   * Publishes `state` unless a state of the model with the same or a higher generation is already
   * known (a re-delivered outbox whose state was published, or superseded).
   * @returns false when skipped.
   */
  async publish(state: RoutingState): Promise<boolean> {
    const cur = this.latest.get(state.model);
    if (cur && cur.generation >= state.generation) return false;
    const epoch = this.epoch();
    const stamped = epoch === undefined ? state : { ...state, epoch };
    await this.control.publish(stamped);
    this.note(stamped);
    this.log.info({ model: state.model, generation: state.generation, rollout: state.rollout_id, weights: Object.fromEntries(state.versions.map((v) => [v.name, v.weight])) }, 'routing state published');
    return true;
  }

  /** Stops following the channel. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private note(s: RoutingState): void {
    const cur = this.latest.get(s.model);
    if (!cur || s.generation > cur.generation) this.latest.set(s.model, s);
  }
}
