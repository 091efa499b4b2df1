/**
 * Circuit breaker, pure (time comes from a clock function). Closed: requests flow and their
 * results fill a rolling window of buckets; once the window holds at least `minRequests` and the
 * failure share reaches `failureRatio`, it opens. Open: nothing flows for `openMs`, then it is
 * half-open: up to `halfOpenProbes` requests at a time go through as probes; that many
 * successes close it (with an empty window), one failure opens it again.
 */

/** Breaker states; the metric uses 0 closed, 1 half-open, 2 open. */
export type BreakerState = 'closed' | 'half_open' | 'open';

/** Numeric form of a state for metrics. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 1, open: 2 };

/** What a caller holds while its request runs: pass it back to {@link CircuitBreaker.record}. */
export type Permit = 'normal' | 'probe';

/** Options of {@link CircuitBreaker}. */
export interface BreakerOptions {
  enabled: boolean;
  windowMs: number;
  buckets: number;
  minRequests: number;
  failureRatio: number;
  openMs: number;
  halfOpenProbes: number;
  /** Clock in ms; default Date.now. */
  now?: () => number;
  /** Called on every state change. Must not throw. */
  onChange?: (state: BreakerState) => void;
}

/** One version's breaker. */
export class CircuitBreaker {
  private readonly bucketMs: number;
  private readonly totals: number[];
  private readonly failures: number[];
  private readonly epochs: number[];
  private readonly now: () => number;
  private current: BreakerState = 'closed';
  private openedAt = 0;
  private probesInFlight = 0;
  private probeSuccesses = 0;

  constructor(private readonly opts: BreakerOptions) {
    if (!(opts.windowMs > 0) || !Number.isInteger(opts.buckets) || opts.buckets < 1) throw new Error('breaker: windowMs must be > 0 and buckets a positive integer');
    if (!(opts.failureRatio > 0 && opts.failureRatio <= 1)) throw new Error('breaker: failureRatio must be in (0, 1]');
    if (!(opts.minRequests >= 1) || !(opts.halfOpenProbes >= 1) || !(opts.openMs > 0)) throw new Error('breaker: minRequests, halfOpenProbes and openMs must be positive');
    this.bucketMs = Math.max(1, Math.floor(opts.windowMs / opts.buckets));
    this.totals = new Array<number>(opts.buckets).fill(0);
    this.failures = new Array<number>(opts.buckets).fill(0);
    this.epochs = new Array<number>(opts.buckets).fill(-1);
    this.now = opts.now ?? Date.now;
  }

  /** Current state (an open breaker turns half-open once `openMs` has passed). */
  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.opts.openMs) this.transition('half_open');
    return this.current;
  }

  /** Asks to send one request: a permit, or undefined when the breaker refuses. */
  acquire(): Permit | undefined {
    if (!this.opts.enabled) return 'normal';
    const s = this.state;
    if (s === 'closed') return 'normal';
    if (s === 'half_open' && this.probesInFlight < this.opts.halfOpenProbes) {
      this.probesInFlight++;
      return 'probe';
    }
    return undefined;
  }

  /** True when a request would get a permit now (does not take one). */
  wouldAllow(): boolean {
    if (!this.opts.enabled) return true;
    const s = this.state;
    return s === 'closed' || (s === 'half_open' && this.probesInFlight < this.opts.halfOpenProbes);
  }

  /** Milliseconds until an open breaker lets probes through (0 when it is not open). */
  msUntilHalfOpen(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, this.opts.openMs - (this.now() - this.openedAt));
  }

  /** Reports how a request that held `permit` ended. */
  record(permit: Permit, ok: boolean): void {
    if (!this.opts.enabled) return;
    if (permit === 'probe') {
      this.probesInFlight = Math.max(0, this.probesInFlight - 1);
      if (this.current !== 'half_open') return;
      if (!ok) {
        this.open();
      } else if (++this.probeSuccesses >= this.opts.halfOpenProbes) {
        this.clearWindow();
        this.transition('closed');
      }
      return;
    }
    if (this.current !== 'closed') return; // a late result from before the breaker opened
    const now = this.now();
    const epoch = Math.floor(now / this.bucketMs);
    const i = epoch % this.opts.buckets;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.totals[i] = 0;
      this.failures[i] = 0;
    }
    this.totals[i]!++;
    if (ok) return;
    this.failures[i]!++;
    let total = 0;
    let failed = 0;
    const oldest = epoch - this.opts.buckets + 1;
    for (let b = 0; b < this.opts.buckets; b++) {
      if (this.epochs[b]! < oldest) continue;
      total += this.totals[b]!;
      failed += this.failures[b]!;
    }
    if (total >= this.opts.minRequests && failed / total >= this.opts.failureRatio) this.open();
  }

  /** Gives back a permit whose request ended without a verdict (e.g. the client left). */
  release(permit: Permit): void {
    if (permit === 'probe') this.probesInFlight = Math.max(0, this.probesInFlight - 1);
  }

  /** Closes the breaker and forgets the window (admin reset). */
  reset(): void {
    this.clearWindow();
    this.probesInFlight = 0;
    this.transition('closed');
  }

  private open(): void {
    this.openedAt = this.now();
    this.transition('open');
  }

  private clearWindow(): void {
    this.epochs.fill(-1);
    this.totals.fill(0);
    this.failures.fill(0);
  }

  private transition(next: BreakerState): void {
    if (next === 'half_open' || next === 'closed') this.probeSuccesses = 0;
    if (this.current === next) return;
    this.current = next;
    this.opts.onChange?.(next);
  }
}
