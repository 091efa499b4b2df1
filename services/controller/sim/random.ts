/**
 * Seeded random numbers for the simulator: xoshiro128** (seeded through splitmix32), normals by
 * Box-Muller, exact Poisson (multiplication for small means, Hörmann's PTRS otherwise) and
 * binomial counts (Devroye's second waiting-time method, O(n·p)). Deterministic given the seed.
 */
import { gammaln } from 'simple-statistics';

/** A seeded generator. */
export interface Rng {
  /** Uniform in (0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Derives the seed of run `index` from a scenario seed, so every run is independent and replayable. */
export function seedFor(seed: number, index: number): number {
  const mix = splitmix32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
  mix();
  return mix();
}

/** A xoshiro128** generator. */
export function createRng(seed: number): Rng {
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  if ((a | b | c | d) === 0) a = 1;
  const next = (): number => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
  let spare: number | null = null;
  const uniform = () => (next() + 0.5) / 4294967296;
  return {
    uniform,
    normal() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      const r = Math.sqrt(-2 * Math.log(uniform()));
      const th = 2 * Math.PI * uniform();
      spare = r * Math.sin(th);
      return r * Math.cos(th);
    },
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A Poisson(λ) count. */
export function poisson(rng: Rng, lambda: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda < 30) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = rng.uniform();
    while (p > limit) {
      k++;
      p *= rng.uniform();
    }
    return k;
  }
  // PTRS, Hörmann (1993), "The transformed rejection method for generating Poisson random variables".
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.uniform() - 0.5;
    const v = rng.uniform();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - gammaln(k + 1)) return k;
  }
}

/** A Binomial(n, p) count. Exact while n·min(p, 1−p) <= 2000; a rounded normal beyond (never reached by the bench). */
export function binomial(rng: Rng, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  if (n * p > 2000) {
    const x = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * rng.normal());
    return Math.min(n, Math.max(0, x));
  }
  const q = -Math.log1p(-p);
  let x = 0;
  let sum = 0;
  for (;;) {
    sum += -Math.log(rng.uniform()) / (n - x);
    if (sum > q || x >= n) return x;
    x++;
  }
}
