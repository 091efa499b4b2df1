/**
 * Small JSON path helpers for configured paths: `a.b.0.c`, `$.a.b[0].c`, and `*` (any key or
 * index) in mask paths. Pure.
 */

/** Splits a path into segments: `$.a[0].b` → ['a', '0', 'b']. */
export function splitPath(path: string): string[] {
  let p = path.trim();
  if (p.startsWith('$')) p = p.slice(1);
  return p.replace(/\[(\d+|\*)\]/g, '.$1').split('.').filter((s) => s.length > 0);
}

/**
 * Parses a configured mask path (`user.ssn`, `$.messages[*].content`, `items.*.card`): the one
 * path syntax of redaction. Throws naming the path when a segment is empty.
 */
export function parseMaskPath(path: string, where: string): string[] {
  const p = typeof path === 'string' ? path.trim().replace(/^\$\.?/, '').replace(/\[(\d+|\*)\]/g, '.$1') : '';
  const segs = p.split('.');
  if (!p || segs.some((s) => !s)) throw new Error(`${where}: invalid path ${JSON.stringify(path)} (dot form, e.g. user.ssn or messages.*.content; $.a[0].b also works)`);
  return segs;
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
