/**
 * A confidence sequence for a proportion: an interval that covers the true p at every sample size
 * at once with probability ≥ 1 − α, so it may be recomputed after every window (Robbins 1970;
 * Howard et al. 2021). It is the conjugate beta-binomial mixture: with a Beta(a, b) mixing
 * distribution, M_n(p) = B(a + k, b + n − k) / (B(a, b)·p^k·(1 − p)^(n − k)) is a martingale under
 * p, and the interval is {p : M_n(p) < 1/α}.
 */
import { gammaln } from 'simple-statistics';

/** A two-sided interval. */
export interface Interval {
  /** Lower end, in [0, 1]. */
  readonly lower: number;
  /** Upper end, in [0, 1]. */
  readonly upper: number;
}

function logBeta(x: number, y: number): number {
  return gammaln(x) + gammaln(y) - gammaln(x + y);
}

/**
 * The time-uniform (1 − α) interval for a proportion after k successes in n trials.
 * @param a,b the Beta mixing parameters (0.5, 0.5 by default: Jeffreys).
 */
export function proportionCS(k: number, n: number, alpha: number, a = 0.5, b = 0.5): Interval {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (!(n >= 0) || !(k >= 0) || k > n) throw new RangeError(`need 0 <= k <= n, got k=${k} n=${n}`);
  if (n === 0) return { lower: 0, upper: 1 };
  const logMarginal = logBeta(a + k, b + n - k) - logBeta(a, b);
  const bound = Math.log(1 / alpha);
  // g(p) >= 0 means p is excluded; g is convex with its minimum at k/n, where it is < 0.
  const g = (p: number) => logMarginal - (k > 0 ? k * Math.log(p) : 0) - (n - k > 0 ? (n - k) * Math.log1p(-p) : 0) - bound;
  const hat = k / n;
  const solve = (lo: number, hi: number, excludedAtLo: boolean): number => {
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if ((g(mid) >= 0) === excludedAtLo) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const lower = k === 0 ? 0 : solve(0, hat, true);
  const upper = k === n ? 1 : solve(hat, 1, false);
  return { lower, upper };
}
