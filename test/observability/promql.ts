/**
 * A small PromQL reader for the tests: finds every vector selector of an expression (metric name
 * and label matchers) and every label named in a grouping or matching clause (`by`, `without`,
 * `on`, `ignoring`, `group_left`, `group_right`). It does not build a full syntax tree; Prometheus
 * itself parses the expressions in the tests, this only tells the tests what to look for.
 */

/** One label matcher of a selector. */
export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** One vector selector, e.g. `mlgate_gateway_requests_total{role!="shadow"}`. */
export interface Selector {
  /** The metric name (from the name or a `__name__="..."` matcher). */
  name: string | undefined;
  matchers: Matcher[];
}

/** What an expression refers to. */
export interface PromqlRefs {
  selectors: Selector[];
  /** Labels of `by`/`on`/`ignoring`/`group_left`/`group_right` clauses (`without` excluded). */
  groupingLabels: string[];
}

type Tok = { kind: 'ident' | 'string' | 'number' | 'punct'; text: string };

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', 'start', 'end']);
/** Aggregation operators: `sum by (x) (...)` puts the grouping between the name and its parenthesis. */
const AGGREGATORS = new Set(['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values']);
const OPS = ['=~', '!~', '!=', '==', '>=', '<=', '=', '>', '<', '+', '-', '*', '/', '%', '^', '@', '{', '}', '(', ')', '[', ']', ','];

function unquote(s: string): string {
  if (s.startsWith('`')) return s.slice(1, -1);
  return JSON.parse(s.startsWith("'") ? `"${s.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"` : s) as string;
}

/** Splits an expression into tokens (comments dropped). */
export function tokenize(expr: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < expr.length) {
    const rest = expr.slice(i);
    const c = expr[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { const nl = expr.indexOf('\n', i); i = nl < 0 ? expr.length : nl; continue; }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      if (j >= expr.length) throw new Error(`unterminated string at ${i} in ${expr}`);
      out.push({ kind: 'string', text: expr.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    const num = /^(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)(?:(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)?/i.exec(rest);
    if (num && /[\d.]/.test(c)) { out.push({ kind: 'number', text: num[0] }); i += num[0].length; continue; }
    const id = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(rest);
    if (id) { out.push({ kind: 'ident', text: id[0] }); i += id[0].length; continue; }
    const op = OPS.find((o) => rest.startsWith(o));
    if (!op) throw new Error(`unexpected ${JSON.stringify(c)} at ${i} in ${expr}`);
    out.push({ kind: 'punct', text: op });
    i += op.length;
  }
  return out;
}

/** The selectors and grouping labels of `expr`. */
export function promqlRefs(expr: string): PromqlRefs {
  const toks = tokenize(expr);
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const readMatchers = (start: number): [Matcher[], number] => {
    const ms: Matcher[] = [];
    let i = start + 1;
    while (toks[i] && toks[i]!.text !== '}') {
      const label = toks[i]!;
      const op = toks[i + 1];
      const value = toks[i + 2];
      if (!op || !value || value.kind !== 'string') throw new Error(`bad matcher near ${label.text} in ${expr}`);
      ms.push({ label: label.kind === 'string' ? unquote(label.text) : label.text, op: op.text as Matcher['op'], value: unquote(value.text) });
      i += 3;
      if (toks[i]?.text === ',') i++;
    }
    return [ms, i];
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind === 'punct' && t.text === '[') {
      while (toks[i] && toks[i]!.text !== ']') i++;
      continue;
    }
    if (t.kind === 'punct' && t.text === '{') {
      const [ms, end] = readMatchers(i);
      selectors.push({ name: ms.find((m) => m.label === '__name__' && m.op === '=')?.value, matchers: ms.filter((m) => m.label !== '__name__') });
      i = end;
      continue;
    }
    if (t.kind !== 'ident') continue;
    const next = toks[i + 1];
    if (GROUPING.has(t.text)) {
      if (next?.text !== '(') continue;
      let j = i + 2;
      for (; toks[j] && toks[j]!.text !== ')'; j++) {
        if (toks[j]!.kind === 'ident' && t.text !== 'without') groupingLabels.push(toks[j]!.text);
      }
      i = j;
      continue;
    }
    if (KEYWORDS.has(t.text.toLowerCase()) || AGGREGATORS.has(t.text)) {
      if (t.text === 'offset') i++;
      continue;
    }
    if (next?.text === '(') continue; // a function or an aggregation
    if (next?.text === '{') {
      const [ms, end] = readMatchers(i + 1);
      selectors.push({ name: t.text, matchers: ms });
      i = end;
    } else {
      selectors.push({ name: t.text, matchers: [] });
    }
  }
  return { selectors, groupingLabels: [...new Set(groupingLabels)] };
}

/** A selector written back as PromQL (for queries of its own). */
export function selectorText(s: Selector): string {
  const ms = s.matchers.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`);
  return `${s.name ?? ''}{${ms.join(', ')}}`;
}
