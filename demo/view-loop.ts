/**
 * Drives the live view during the demo: every 250 ms on a terminal (1 s elsewhere) it reads the
 * controller's rollouts, notes each new decision that is not a `wait`, and draws a frame.
 */
import type { RolloutSnapshot, RolloutSource } from '../services/controller/web/types.ts';
import type { LoadStats } from './load.ts';
import { LiveView, type LiveViewOptions } from './view.ts';

/** Options of {@link ViewLoop}. */
export interface ViewLoopOptions {
  out: LiveViewOptions['out'];
  /** Redraw in place (default: `out.isTTY`). */
  tty?: boolean | undefined;
  rollouts: RolloutSource;
  load: () => LoadStats;
  rps: number;
  /** Start of the demo (ms). */
  t0: number;
}

/** See the module comment. */
export class ViewLoop {
  /** What the demo is doing, shown in the view's first line. */
  stage = 'warming up: stable v1 serves all traffic';
  private readonly view: LiveView;
  private readonly history = new Map<string, string[]>();
  private readonly seen = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: ViewLoopOptions) {
    const tty = o.tty ?? o.out.isTTY === true;
    this.view = new LiveView({ out: o.out, tty });
    this.timer = setInterval(() => { this.frame().catch(() => {}); }, tty ? 250 : 1000);
    this.timer.unref();
  }

  /** Reads the rollouts and draws one frame now. */
  async frame(): Promise<void> {
    const rollouts: readonly RolloutSnapshot[] = await this.o.rollouts.list();
    for (const r of rollouts) {
      const d = r.latestDecision;
      if (!d || d.seq === this.seen.get(r.id)) continue;
      this.seen.set(r.id, d.seq);
      if (d.action !== 'wait') this.history.set(r.id, [...(this.history.get(r.id) ?? []), `${d.action}@${d.toWeight}%`]);
    }
    this.view.draw({ elapsedS: (Date.now() - this.o.t0) / 1000, stage: this.stage, rps: this.o.rps, load: this.o.load(), rollouts, history: this.history });
  }

  /** Stops the timer; with `last`, draws a final frame first. */
  async stop(last = false): Promise<void> {
    clearInterval(this.timer);
    if (last) await this.frame();
    this.view.done();
  }
}
