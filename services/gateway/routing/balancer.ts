/**
 * Target balancer, pure: picks one of a version's upstream targets by strategy, skipping targets
 * that active health checks marked down or that passive ejection benched. No I/O; the caller
 * reports each request's start ({@link Balancer.begin}) and end ({@link Balancer.end}).
 */

/** Strategies (see config.ts `balance`). */
export type BalanceStrategy = 'round_robin' | 'least_outstanding' | 'weighted';

/** Options of {@link Balancer}. */
export interface BalancerOptions {
  /** Weight per target (used by `weighted`; ignored otherwise). */
  weights: readonly number[];
  strategy: BalanceStrategy;
  /** Failures in a row that eject a target; 0 = never. */
  ejectAfter: number;
  /** How long an ejected target sits out. */
  ejectMs: number;
  /** Clock in ms; default Date.now. */
  now?: () => number;
}

/** What the balancer knows about one target. */
export interface TargetView {
  readonly index: number;
  readonly inflight: number;
  /** False after active checks failed `unhealthyThreshold` times in a row. */
  readonly healthy: boolean;
  /** True while passively ejected. */
  readonly ejected: boolean;
}

/** One version's targets. */
export class Balancer {
  private readonly n: number;
  private readonly inflight: number[];
  private readonly healthy: boolean[];
  private readonly ejectedUntil: number[];
  private readonly failuresInRow: number[];
  private readonly current: number[];
  private readonly now: () => number;
  private rr = 0;

  constructor(private readonly opts: BalancerOptions) {
    this.n = opts.weights.length;
    if (this.n < 1) throw new Error('balancer: at least one target is required');
    if (opts.weights.some((w) => !(w > 0))) throw new Error('balancer: target weights must be positive');
    if (!(opts.ejectAfter >= 0) || !(opts.ejectMs > 0)) throw new Error('balancer: ejectAfter must be >= 0 and ejectMs > 0');
    this.inflight = new Array<number>(this.n).fill(0);
    this.healthy = new Array<boolean>(this.n).fill(true);
    this.ejectedUntil = new Array<number>(this.n).fill(0);
    this.failuresInRow = new Array<number>(this.n).fill(0);
    this.current = new Array<number>(this.n).fill(0);
    this.now = opts.now ?? Date.now;
  }

  /** Number of targets. */
  get size(): number {
    return this.n;
  }

  private usable(i: number, now: number): boolean {
    return this.healthy[i]! && this.ejectedUntil[i]! <= now;
  }

  /** True when at least one target can take a request. */
  available(): boolean {
    const now = this.now();
    for (let i = 0; i < this.n; i++) if (this.usable(i, now)) return true;
    return false;
  }

  /** Index of the target for the next request, or -1 when none is usable (`exclude`: already tried). */
  pick(exclude?: ReadonlySet<number>): number {
    const now = this.now();
    if (this.n === 1) return this.ok(0, now, exclude) ? 0 : -1;
    switch (this.opts.strategy) {
      case 'round_robin':
        for (let k = 0; k < this.n; k++) {
          const i = (this.rr + k) % this.n;
          if (this.ok(i, now, exclude)) {
            this.rr = (i + 1) % this.n;
            return i;
          }
        }
        return -1;
      case 'least_outstanding': {
        let best = -1;
        for (let k = 0; k < this.n; k++) {
          const i = (this.rr + k) % this.n; // rotate the start so ties spread evenly
          if (this.ok(i, now, exclude) && (best < 0 || this.inflight[i]! < this.inflight[best]!)) best = i;
        }
        this.rr = (this.rr + 1) % this.n;
        return best;
      }
      case 'weighted': {
        // Smooth weighted round robin (as nginx): deterministic, interleaved, exact shares.
        let total = 0;
        let best = -1;
        for (let i = 0; i < this.n; i++) {
          if (!this.ok(i, now, exclude)) continue;
          const w = this.opts.weights[i]!;
          this.current[i]! += w;
          total += w;
          if (best < 0 || this.current[i]! > this.current[best]!) best = i;
        }
        if (best >= 0) this.current[best]! -= total;
        return best;
      }
    }
  }

  private ok(i: number, now: number, exclude: ReadonlySet<number> | undefined): boolean {
    return this.healthy[i]! && this.ejectedUntil[i]! <= now && !(exclude !== undefined && exclude.has(i));
  }

  /** A request to target `i` starts. */
  begin(i: number): void {
    this.inflight[i]!++;
  }

  /** A request to target `i` ended; `ok` false for connection errors, timeouts and 5xx. */
  end(i: number, ok: boolean): void {
    this.inflight[i] = Math.max(0, this.inflight[i]! - 1);
    if (ok) {
      this.failuresInRow[i] = 0;
      return;
    }
    if (this.opts.ejectAfter > 0 && ++this.failuresInRow[i]! >= this.opts.ejectAfter) {
      const now = this.now();
      // Never bench the last usable target (as Envoy's panic threshold): with it gone the
      // version would answer 503 to every request for ejectMs, healthy ones included; its
      // breaker judges the version as a whole. It keeps counting and is benched once another
      // target is usable again.
      if (!this.otherUsable(i, now)) return;
      this.ejectedUntil[i] = now + this.opts.ejectMs;
      this.failuresInRow[i] = 0;
    }
  }

  private otherUsable(i: number, now: number): boolean {
    for (let k = 0; k < this.n; k++) if (k !== i && this.usable(k, now)) return true;
    return false;
  }

  /** Active health check verdict for target `i` (a passive ejection still runs its course). */
  setHealthy(i: number, healthy: boolean): void {
    this.healthy[i] = healthy;
  }

  /** Snapshot for the admin API and metrics. */
  view(): TargetView[] {
    const now = this.now();
    return Array.from({ length: this.n }, (_, i) => ({
      index: i, inflight: this.inflight[i]!, healthy: this.healthy[i]!, ejected: this.ejectedUntil[i]! > now,
    }));
  }
}
