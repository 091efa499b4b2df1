/**
 * The control channel port: how routing states travel between writers (controller, admin API)
 * and every gateway. Two adapters: {@link InProcessControlChannel} here (embedded mode, tests) and
 * a Kafka one (compacted topic `mlgate.control.v1`, key = model) with the controller work.
 *
 * Semantics every adapter keeps:
 * - `publish` hands a validated state to the channel; it resolves once the channel has it
 *   (for Kafka: acknowledged by the broker). Publishing does not apply it anywhere by itself.
 * - subscribers receive every state published after they subscribed, including their own; the
 *   receiver decides with `applyIfNewer` (routing/state.ts) whether to use it.
 * - `readToEnd` returns the latest state per model as of now (for Kafka: read the compacted
 *   topic to its end offsets), so a gateway can catch up before it serves.
 */
import type { RoutingState } from './state.ts';
import { EpochFence, parseRoutingState } from './state.ts';
import { ControlErrors } from './errors.ts';

/** Receives routing states from the channel. Must not throw (errors are caught and dropped). */
export type ControlHandler = (state: RoutingState) => void;

/** Where routing states are published and read. */
export interface ControlChannel {
  /** Publishes one state; rejects with MLG_CONTROL_STATE_INVALID when it is not valid. */
  publish(state: RoutingState): Promise<void>;
  /** Calls `handler` for each state published from now on. Returns an unsubscribe function. */
  subscribe(handler: ControlHandler): () => void;
  /** The latest state per model, as of the call. */
  readToEnd(): Promise<RoutingState[]>;
  /** Stops delivery and releases resources. */
  close(): Promise<void>;
  /**
   * Announces a controller's leadership epoch before it acts: from then on every reader refuses
   * states with a lower epoch (routing/state.ts, EpochFence). Optional for adapters.
   */
  announceEpoch?(epoch: number, by: string): Promise<void>;
}

/**
 * In-process channel: keeps the last state published per model (like a compacted topic) and
 * delivers each publish to the subscribers asynchronously (a microtask later), in order.
 * One instance can be shared by several gateways and a controller in the same process.
 */
export class InProcessControlChannel implements ControlChannel {
  /** Last state per model; subclasses may seed it (e.g. from a file) before any publish. */
  protected readonly latest = new Map<string, RoutingState>();
  private readonly handlers = new Set<ControlHandler>();
  private readonly fence = new EpochFence();
  private closed = false;

  async announceEpoch(epoch: number): Promise<void> {
    if (this.closed) throw ControlErrors.channelClosed('the control channel is closed');
    this.fence.announce(epoch);
  }

  async publish(state: RoutingState): Promise<void> {
    if (this.closed) throw ControlErrors.channelClosed('the control channel is closed');
    const valid = parseRoutingState(state);
    // A deposed controller's state is dropped here as every reader of a topic would drop it.
    if (this.fence.admit(valid) !== undefined) return;
    const cur = this.latest.get(valid.model);
    if (!cur || valid.generation >= cur.generation) this.latest.set(valid.model, valid);
    await this.persist();
    const handlers = [...this.handlers];
    queueMicrotask(() => {
      for (const h of handlers) {
        try {
          h(valid);
        } catch {
          /* a handler must not break delivery to the others */
        }
      }
    });
  }

  subscribe(handler: ControlHandler): () => void {
    this.handlers.add(handler);
    return () => { this.handlers.delete(handler); };
  }

  async readToEnd(): Promise<RoutingState[]> {
    return [...this.latest.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }

  /** Makes {@link latest} durable after a publish, before delivery; nothing in memory only. */
  protected async persist(): Promise<void> {}
}
