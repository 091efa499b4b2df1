/**
 * What Grafana and the ClickHouse datasource plugin do to a query before it reaches the engine,
 * for a fixed time range, so the tests can run every dashboard query as Grafana would send it.
 *
 * Template variables are interpolated first (Grafana's frontend): `${var:singlequote}` (SQL),
 * `$var` / `${var}` / `${var:regex}` in PromQL (a multi-value or include-all variable becomes an
 * escaped regex alternation, like Grafana's Prometheus datasource), and the global `$__interval`,
 * `$__rate_interval`, `$__range`. Then the plugin's macros (grafana/clickhouse-datasource
 * pkg/macros/macros.go): `$__timeFilter(col)`, `$__timeFilter_ms(col)`, `$__dateFilter(col)`,
 * `$__fromTime`, `$__toTime`, `$__fromTime_ms`, `$__toTime_ms`, `$__timeInterval(col)`,
 * `$__timeInterval_ms(col)`, `$__interval_s`. Anything else starting with `$` is an error.
 */

/** Values of a dashboard's variables (every value selected, as with "All"). */
export type VariableValues = Readonly<Record<string, readonly string[]>>;

/** The fixed range and interval a query is expanded for. */
export interface QueryRange {
  /** ms since the epoch. */
  from: number;
  to: number;
  /** Grafana's `$__interval` in seconds (the panel's time step). */
  intervalS: number;
}

const sec = (ms: number) => Math.floor(ms / 1000);
const sqlQuote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Escapes a value for a PromQL regex inside a double-quoted string, as Grafana does. */
export function promRegexEscape(v: string): string {
  return v.replace(/[\\^$*+?.()|{}[\]]/g, (c) => `\\\\${c}`);
}

function variable(vars: VariableValues, name: string, where: string): readonly string[] {
  const v = vars[name];
  if (!v) throw new Error(`${where}: unknown variable $${name}`);
  if (v.length === 0) throw new Error(`${where}: variable $${name} has no values`);
  return v;
}

/** Finds `$__name(args)` macros and replaces each with `fn(arg)`. */
function replaceMacroCalls(text: string, name: string, fn: (arg: string) => string): string {
  const token = `$__${name}(`;
  let out = '';
  let i = 0;
  for (;;) {
    const at = text.indexOf(token, i);
    if (at < 0) return out + text.slice(i);
    let depth = 1;
    let j = at + token.length;
    for (; j < text.length && depth > 0; j++) {
      if (text[j] === '(') depth++;
      else if (text[j] === ')') depth--;
    }
    if (depth !== 0) throw new Error(`unbalanced parentheses after ${token}`);
    out += text.slice(i, at) + fn(text.slice(at + token.length, j - 1).trim());
    i = j;
  }
}

/** Expands a ClickHouse panel query as Grafana plus the plugin would. */
export function expandClickHouse(sql: string, vars: VariableValues, range: QueryRange, where = 'query'): string {
  let s = sql.replace(/\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)/g, (_m, braced: string | undefined, fmt: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (fmt !== 'singlequote' && fmt !== 'sqlstring') {
      throw new Error(`${where}: SQL uses ${_m}; quote variables as \${${name}:singlequote}`);
    }
    return variable(vars, name, where).map(sqlQuote).join(',');
  });
  const interval = Math.max(1, Math.floor(range.intervalS));
  s = replaceMacroCalls(s, 'timeFilter_ms', (c) => `${c} >= fromUnixTimestamp64Milli(${range.from}) AND ${c} <= fromUnixTimestamp64Milli(${range.to})`);
  s = replaceMacroCalls(s, 'timeFilter', (c) => `${c} >= toDateTime(${sec(range.from)}) AND ${c} <= toDateTime(${sec(range.to)})`);
  s = replaceMacroCalls(s, 'dateFilter', (c) => {
    const d = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
    return `${c} >= ${d(range.from)} AND ${c} <= ${d(range.to)}`;
  });
  s = replaceMacroCalls(s, 'timeInterval_ms', (c) => `toStartOfInterval(toDateTime64(${c}, 3), INTERVAL ${interval * 1000} millisecond)`);
  s = replaceMacroCalls(s, 'timeInterval', (c) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${interval} second)`);
  s = s
    .replace(/\$__fromTime_ms\b/g, `fromUnixTimestamp64Milli(${range.from})`)
    .replace(/\$__toTime_ms\b/g, `fromUnixTimestamp64Milli(${range.to})`)
    .replace(/\$__fromTime\b/g, `toDateTime(${sec(range.from)})`)
    .replace(/\$__toTime\b/g, `toDateTime(${sec(range.to)})`)
    .replace(/\$__interval_s\b/g, String(interval));
  const left = /\$\S*/.exec(s);
  if (left) throw new Error(`${where}: unexpanded ${left[0]} in ${s}`);
  return s;
}

/** Grafana's global variables of a Prometheus query. */
export interface PromBuiltins {
  /** `$__interval`, e.g. `5s`. */
  interval: string;
  /** `$__rate_interval`, e.g. `20s`. */
  rateInterval: string;
  /** `$__range`, e.g. `5m`. */
  range: string;
}

/** Expands a PromQL panel query as Grafana would. */
export function expandPromql(expr: string, vars: VariableValues, builtins: PromBuiltins, where = 'query'): string {
  const s = expr.replace(/\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g, (m, braced: string | undefined, fmt: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (name === '__rate_interval') return builtins.rateInterval;
    if (name === '__interval') return builtins.interval;
    if (name === '__range') return builtins.range;
    if (name.startsWith('__')) throw new Error(`${where}: unsupported Grafana variable ${m}`);
    if (fmt !== undefined && fmt !== 'regex') throw new Error(`${where}: ${m}: use $${name} or \${${name}:regex} in PromQL`);
    const values = variable(vars, name, where).map(promRegexEscape);
    return values.length === 1 ? values[0]! : `(${values.join('|')})`;
  });
  if (s.includes('$')) throw new Error(`${where}: unexpanded $ in ${s}`);
  return s;
}

/** `label_values(metric, label)` / `label_values(label)` of a Prometheus variable, parsed. */
export function parseLabelValues(query: string): { selector: string | undefined; label: string } | undefined {
  const m = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(query);
  return m ? { selector: m[1], label: m[2]! } : undefined;
}
