/**
 * Small JSON path helpers for configured paths: `a.b.0.c`, `$.a.b[0].c`, and `*` (any key or
 * index) for masking. Pure.
 */

/** Splits a path into segments: `$.a[0].b` → ['a', '0', 'b']. */
export function splitPath(path: string): string[] {
  let p = path.trim();
  if (p.startsWith('$')) p = p.slice(1);
  return p.replace(/\[(\d+|\*)\]/g, '.$1').split('.').filter((s) => s.length > 0);
}

/** The value at `segments` in `value`, or undefined. */
export function getPath(value: unknown, segments: readonly string[]): unknown {
  let cur: unknown = value;
  for (const s of segments) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      const i = Number(s);
      if (!Number.isInteger(i)) return undefined;
      cur = cur[i < 0 ? cur.length + i : i];
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, s)) return undefined;
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return cur;
}

/**
 * Replaces every value at `segments` (where `*` matches any key or index) with `mask`, in place.
 * Returns how many values it replaced.
 */
export function maskPath(value: unknown, segments: readonly string[], mask: string): number {
  if (segments.length === 0 || value === null || typeof value !== 'object') return 0;
  const [head, ...rest] = segments;
  const obj = value as Record<string, unknown>;
  const keys = head === '*' ? Object.keys(obj) : Object.prototype.hasOwnProperty.call(obj, head!) ? [head!] : [];
  let n = 0;
  for (const k of keys) {
    if (rest.length === 0) {
      if (obj[k] !== undefined) {
        obj[k] = mask;
        n++;
      }
    } else {
      n += maskPath(obj[k], rest, mask);
    }
  }
  return n;
}

/** Compiled prediction paths of a model. */
export interface PredictionPaths {
  label?: readonly string[] | undefined;
  score?: readonly string[] | undefined;
}

/** The prediction label (as text, at most 500 characters) and score (a finite number) of a response. */
export function extractPrediction(response: unknown, paths: PredictionPaths): { label: string | null; score: number | null } {
  let label: string | null = null;
  let score: number | null = null;
  if (paths.label) {
    const v = getPath(response, paths.label);
    if (typeof v === 'string') label = v.slice(0, 500);
    else if (typeof v === 'number' || typeof v === 'boolean') label = String(v);
  }
  if (paths.score) {
    const v = getPath(response, paths.score);
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n)) score = n;
  }
  return { label, score };
}
