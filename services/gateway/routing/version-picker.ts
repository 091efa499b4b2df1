/**
 * Version choice, pure. Two ways to pick a version by weight:
 * - {@link VersionPicker.pick}: independent weighted draws (non-sticky traffic);
 * - {@link VersionPicker.pickSticky}: weighted rendezvous hashing of a key. For each version the
 *   key gets a pseudo-random u in (0,1) from a hash of (key, version); the version with the
 *   highest `-weight / ln(u)` wins. A key lands on a version with probability weight/sum, one
 *   key always sees the same version while the weights stay, and when weights change a key only
 *   moves to a version whose weight rose (or away from one whose weight fell): raising a canary
 *   from 10 to 20 moves keys from stable to canary and nothing else (minimal movement).
 */

/** A version and its weight (any non-negative number; shares are weight / sum). */
export interface WeightedName {
  readonly name: string;
  readonly weight: number;
}

/** Final mixing step of MurmurHash3: a bijection on 32-bit integers with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit hash of a string (FNV-1a over UTF-16 code units, seeded, then fmix32). */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

const TWO_POW_21 = 2 ** 21;
const TWO_POW_53 = 2 ** 53;

/** A uniform value in (0,1) from a key's two hashes and a version's two seeds (53 bits). */
function unit(k1: number, k2: number, s1: number, s2: number): number {
  const hi = fmix32(Math.imul(k1 ^ s1, 0x9e3779b1) ^ s2);
  const lo = fmix32(Math.imul(k2 ^ s2, 0x85ebca77) ^ s1) >>> 11;
  return (hi * TWO_POW_21 + lo + 0.5) / TWO_POW_53;
}

/** Picks versions by weight; build one per weight set (cheap) and reuse it per request. */
export class VersionPicker {
  private readonly names: string[] = [];
  private readonly weights: number[] = [];
  private readonly cumulative: number[] = [];
  private readonly seeds1: number[] = [];
  private readonly seeds2: number[] = [];
  private readonly total: number;

  /** @throws when a weight is negative or not finite. */
  constructor(versions: readonly WeightedName[]) {
    let sum = 0;
    for (const v of versions) {
      if (!Number.isFinite(v.weight) || v.weight < 0) throw new Error(`VersionPicker: weight of ${v.name} must be a finite number >= 0`);
      if (v.weight === 0) continue;
      sum += v.weight;
      this.names.push(v.name);
      this.weights.push(v.weight);
      this.cumulative.push(sum);
      this.seeds1.push(hashString(v.name, 0x5bd1e995));
      this.seeds2.push(hashString(v.name, 0x27d4eb2f));
    }
    this.total = sum;
  }

  /** True when no version has a positive weight. */
  get empty(): boolean {
    return this.total === 0;
  }

  /** Weighted draw from `r` in [0,1) (pass Math.random()). Undefined when every weight is 0. */
  pick(r: number): string | undefined {
    const target = r * this.total;
    const c = this.cumulative;
    for (let i = 0; i < c.length; i++) if (target < c[i]!) return this.names[i];
    return this.names[this.names.length - 1];
  }

  /** The version for a sticky key (weighted rendezvous). Undefined when every weight is 0. */
  pickSticky(key: string): string | undefined {
    const k1 = hashString(key, 0x9747b28c);
    const k2 = hashString(key, 0x1b873593);
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < this.names.length; i++) {
      const u = unit(k1, k2, this.seeds1[i]!, this.seeds2[i]!);
      const score = -this.weights[i]! / Math.log(u);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best < 0 ? undefined : this.names[best];
  }
}
