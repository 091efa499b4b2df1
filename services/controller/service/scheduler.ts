/**
 * The tick loop: every `loopMs` it asks the rollout manager to run what is due (each rollout
 * ticks at its own `tick.intervalS`; pending outboxes are delivered first). Turns never overlap
 * for one rollout; a slow rollout does not hold the others. The timer is unref'd and every
 * error is caught by the manager, so the loop never dies and never keeps the process alive.
 */
import type { Logger } from '../../core/log.ts';
import type { RolloutManager } from './rollout-manager.ts';

/** Runs {@link RolloutManager.runDue} periodically. */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly manager: RolloutManager, private readonly loopMs: number, private readonly log: Logger) {}

  /** Starts the loop (idempotent). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.turn();
  }

  /** Runs one turn now (tests, and right after taking the lead). */
  turn(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    try {
      this.manager.runDue((p) => {
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      });
    } catch (err) {
      this.log.error({ err }, 'scheduler turn failed');
    }
    this.timer = setTimeout(() => this.turn(), this.loopMs);
    this.timer.unref();
  }

  /** Stops the loop and waits for the turns in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inflight]);
  }
}
