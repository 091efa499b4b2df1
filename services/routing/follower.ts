/**
 * The controller's side of the control channel: it follows the latest routing state of every
 * model (read to the end when it takes the lead, then live), hands out the generations of its
 * states and publishes them (controller/service/rollout-routing.ts builds a decision's state).
 *
 * Generations: the gateway's admin API takes `nextGeneration(current, now)` = max(current + 1,
 * now in ms) (routing/state.ts). The controller does the same over the latest state it
 * has seen from any writer, and never issues the same generation twice for a model, so its
 * states rise above the admin changes it has seen and above its own earlier ones.
 *
 * Fencing: with a leadership epoch (controller/service/leader.ts), {@link RoutingFollower.sync} (run when the
 * controller takes the lead) announces it on the control channel before anything is published,
 * and every published state carries it; readers refuse states of a lower epoch, so a deposed
 * leader's late writes do not route traffic.
 */
import type { ControlChannel } from './channel.ts';
import { nextGeneration, type RoutingState } from './state.ts';
import type { Logger } from '../core/log.ts';

/** Follows the control channel and publishes the controller's routing states. */
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

  /**
   * The generation of the writer's next state of `model` at time `at`: `nextGeneration` over the
   * latest state seen, and above every generation this follower handed out before (never twice).
   */
  nextGeneration(model: string, at: number): number {
    const generation = Math.max(nextGeneration(this.latest.get(model), at), (this.issued.get(model) ?? 0) + 1);
    this.issued.set(model, generation);
    return generation;
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
