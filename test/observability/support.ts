/**
 * Helpers for the observability tests: the repository's rule files, dashboards and tools.
 * Outside CI a missing tool skips the test with the reason; under CI=true it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';

/** Repository root (absolute, with a trailing slash). */
export const ROOT = new URL('../../', import.meta.url).pathname;
const CI = process.env.CI === 'true';

/** Result of {@link run}. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (never throws on a non-zero exit). */
export function run(file: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** Absolute path of a tool, or undefined (test skipped; under CI=true, failed) when it is missing. */
export function needTool(t: TestContext, name: string, debianPackage: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(':')) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  const msg = `${name} is not installed (apt-get install ${debianPackage})`;
  if (CI) throw new Error(`CI=true and ${msg}`);
  t.skip(msg);
  return undefined;
}

/**
 * A stack of cleanups run by one after hook in reverse order (last started, first stopped), so a
 * service stops before what it depends on. Returns the function that pushes a cleanup. Register it
 * before helpers with after hooks of their own (e.g. withTopics) so those run after it.
 */
export function cleanupStack(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    let first: unknown;
    for (const fn of fns.reverse()) {
      try { await fn(); } catch (err) { first ??= err; }
    }
    if (first) throw first;
  });
  return (fn) => { fns.push(fn); };
}

/** Files of a repository folder whose names match `pattern`, as repository-relative paths. */
export function repoFiles(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(ROOT, dir)).filter((f) => pattern.test(f)).sort().map((f) => `${dir}/${f}`);
}

/** One rule of a Prometheus rule file. */
export interface PromRule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A rule with where it came from. */
export interface LocatedRule extends PromRule {
  file: string;
  group: string;
}

/** Every rule of `alerts/*.rules.yml`. */
export function loadRules(): LocatedRule[] {
  const out: LocatedRule[] = [];
  for (const file of repoFiles('alerts', /\.rules\.yml$/)) {
    const doc = parseYaml(readFileSync(join(ROOT, file), 'utf8')) as { groups: Array<{ name: string; rules: PromRule[] }> };
    for (const g of doc.groups) for (const r of g.rules) out.push({ ...r, file, group: g.name });
  }
  return out;
}

/** A dashboard JSON file, parsed. */
export interface DashboardFile {
  file: string;
  json: Dashboard;
}

/** The parts of a Grafana dashboard the tests read. */
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations: { list: Annotation[] };
  [k: string]: unknown;
}

/** A datasource reference. */
export interface DatasourceRef {
  type: string;
  uid: string;
}

/** A panel (rows carry their own panels when collapsed). */
export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: DatasourceRef;
  targets?: Target[];
  panels?: Panel[];
  [k: string]: unknown;
}

/** A panel query: PromQL (`expr`) or ClickHouse SQL (`rawSql`). */
export interface Target {
  refId: string;
  datasource?: DatasourceRef;
  expr?: string;
  rawSql?: string;
  format?: number | string;
  queryType?: string;
  [k: string]: unknown;
}

/** A template variable. */
export interface Variable {
  name: string;
  type: string;
  datasource?: DatasourceRef;
  query?: unknown;
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
  [k: string]: unknown;
}

/** A dashboard annotation query. */
export interface Annotation {
  name: string;
  datasource?: DatasourceRef;
  enable?: boolean;
  target?: Target;
  builtIn?: number;
  [k: string]: unknown;
}

/** Datasource plugin ids. */
export const PROMETHEUS = 'prometheus';
export const CLICKHOUSE = 'grafana-clickhouse-datasource';

/** Every dashboard in `dashboards/`. */
export function loadDashboards(): DashboardFile[] {
  return repoFiles('dashboards', /\.json$/).map((file) => ({ file, json: JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Dashboard }));
}

/** Panels of a dashboard, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

/** One query of a dashboard, wherever it lives (panel, variable, annotation). */
export interface DashboardQuery {
  dashboard: string;
  /** `panel "<title>" <refId>`, `variable <name>` or `annotation "<name>"`. */
  where: string;
  /** Panel type, `variable` or `annotation`. */
  kind: string;
  datasource: string;
  /** PromQL or SQL as written in the dashboard. */
  text: string;
  /** The panel or target, for format checks. */
  panel?: Panel;
  target?: Target;
}

/** Every query of every dashboard: panel targets, query variables and annotations. */
export function dashboardQueries(d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const dsOf = (t: { datasource?: DatasourceRef } | undefined, fallback?: DatasourceRef) => t?.datasource?.type ?? fallback?.type ?? '';
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      const ds = dsOf(t, p.datasource);
      const text = ds === PROMETHEUS ? t.expr : t.rawSql;
      out.push({ dashboard: d.uid, where: `panel "${p.title}" ${t.refId}`, kind: p.type, datasource: ds, text: text ?? '', panel: p, target: t });
    }
  }
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : ((v.query as { rawSql?: string; query?: string } | undefined)?.rawSql ?? (v.query as { query?: string } | undefined)?.query ?? '');
    out.push({ dashboard: d.uid, where: `variable ${v.name}`, kind: 'variable', datasource: dsOf(v), text: q });
  }
  for (const a of d.annotations.list) {
    if (a.builtIn) continue;
    const ds = dsOf(a.target, a.datasource);
    const text = ds === PROMETHEUS ? (a.target?.expr ?? (a.expr as string | undefined)) : a.target?.rawSql;
    out.push({ dashboard: d.uid, where: `annotation "${a.name}"`, kind: 'annotation', datasource: ds, text: text ?? '', target: a.target });
  }
  return out;
}
