/**
 * Drives the live view during the demo: every 250 ms on a terminal (1 s elsewhere) it reads the
 * controller's rollouts, notes each new decision that is not a `wait`, and draws a frame.
 *
 * The rollouts show only their latest decision, and a rollout's `start` is followed within one
 * scheduler turn by its first tick's `wait`, so polling alone misses decisions. With `recorded`,
 * the history is the rollout's recorded decisions (canary_decisions, read again whenever the
 * latest decision changes) plus the latest one while its row is not written yet.
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
  /** A rollout's recorded decisions other than `wait`, oldest first (see the module comment). */
  recorded?: ((rolloutId: string) => Promise<readonly RecordedDecision[]>) | undefined;
}

/** A recorded decision as the history needs it. */
export interface RecordedDecision {
  readonly decision_id: string;
  /** In the controller's vocabulary (start, promote, complete, ...). */
  readonly action: string;
  readonly weight_after: number;
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
      // A failed read (ClickHouse busy) keeps polling's history rather than losing the frame.
      const rows = this.o.recorded ? await this.o.recorded(r.id).catch(() => undefined) : undefined;
      if (rows) {
        const history = rows.map((x) => `${x.action}@${Number(x.weight_after)}%`);
        if (d.action !== 'wait' && !rows.some((x) => x.decision_id === d.decisionId)) history.push(`${d.action}@${d.toWeight}%`);
        this.history.set(r.id, history);
      } else if (d.action !== 'wait') this.history.set(r.id, [...(this.history.get(r.id) ?? []), `${d.action}@${d.toWeight}%`]);
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
