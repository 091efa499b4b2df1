/**
 * custom_sql metrics: the rollout spec's SQL runs once per arm and window with the values bound as
 * query parameters (never spliced into the text). The parameters it may use:
 *
 * | parameter                     | value                                            |
 * |-------------------------------|--------------------------------------------------|
 * | `{from:DateTime64(3, 'UTC')}` | window start, UTC text `YYYY-MM-DD hh:mm:ss.sss` |
 * | `{to:DateTime64(3, 'UTC')}`   | window end (exclusive)                           |
 * | `{from_ms:Int64}`, `{to_ms:Int64}` | the same in ms since the epoch              |
 * | `{model:String}`              | the rollout's model                              |
 * | `{version:String}`            | the arm's version (stable's, then canary's)      |
 * | `{rollout_id:String}`         | the rollout id                                   |
 *
 * and `{db}` for the database holding mlgate's tables (`FROM {db}.requests`). The statement must be
 * one SELECT (or WITH … SELECT); its first column of its first row is the value (NULL = no data).
 *
 * Spec SQL comes from API callers with the operator role, so it is checked here (one statement,
 * tokenized the way ClickHouse reads it: sql-lexer.ts) and then run read-only with bounds
 * (Warehouse.queryReadOnly). The check: it reads only {@link CUSTOM_SQL_TABLES} of `{db}` (or
 * its own WITH names), calls no table function and none of {@link DENIED_FUNCTIONS}, and carries
 * no SETTINGS, FORMAT, INTO OUTFILE or statement keyword other than SELECT.
 */
import { ControllerErrors } from '../../errors.ts';
import { SqlLexError, tokenize, type Token } from './sql-lexer.ts';

/** The tables of `{db}` custom SQL may read: the raw events and their per-minute rollup. */
export const CUSTOM_SQL_TABLES: ReadonlySet<string> = new Set(['requests', 'requests_1m']);

/** The query parameters the provider binds (see the module comment). */
export const CUSTOM_SQL_PARAMS: ReadonlySet<string> = new Set(['from', 'to', 'from_ms', 'to_ms', 'model', 'version', 'rollout_id']);

/**
 * Functions refused wherever they are called (lower case): table functions (they read files, URLs,
 * other servers and databases, or run programs) and scalar functions that read data other than
 * the FROM tables. `dict*` functions (dictionaries) and the function forms of IN (`in(x, table)`)
 * are refused by pattern.
 */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  'file', 'filecluster', 'url', 'urlcluster', 's3', 's3cluster', 'gcs', 'oss', 'cosn', 'remote', 'remotesecure', 'cluster',
  'clusterallreplicas', 'mysql', 'postgresql', 'hdfs', 'hdfscluster', 'input', 'executable', 'jdbc', 'odbc', 'sqlite', 'mongodb',
  'redis', 'azureblobstorage', 'azureblobstoragecluster', 'deltalake', 'deltalakecluster', 'deltalakes3', 'deltalakeazure', 'iceberg',
  'icebergs3', 'icebergazure', 'iceberghdfs', 'iceberglocal', 'icebergcluster', 'icebergs3cluster', 'icebergazurecluster', 'hudi',
  'hudicluster', 'hive', 'paimon', 'ytsaurus', 'arrowflight', 'dictionary', 'merge', 'mergetreeindex', 'mergetreeprojection', 'view',
  'viewifpermitted', 'viewexplain', 'loop', 'prometheusquery', 'timeseriesdata', 'timeseriestags', 'timeseriesmetrics',
  'joinget', 'joingetornull', 'hascolumnintable', 'getserversetting', 'getmacro',
]);
const IN_FUNCTION = /^(global)?(not)?(null)?in(ignoreset)?$/;

/** Keywords of statements other than SELECT: refused anywhere, even where the engine would not parse them. */
const STATEMENT_WORDS = new Set(['INSERT', 'DELETE', 'UPDATE', 'ALTER', 'DROP', 'CREATE', 'TRUNCATE', 'RENAME', 'ATTACH', 'DETACH',
  'OPTIMIZE', 'GRANT', 'REVOKE', 'KILL', 'EXCHANGE', 'UNDROP', 'BACKUP', 'RESTORE', 'REPLACE', 'MOVE']);
/** Keywords that end a FROM clause (after them a comma no longer separates tables). */
const AFTER_FROM = new Set(['WHERE', 'PREWHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'OFFSET', 'WINDOW', 'QUALIFY', 'UNION', 'EXCEPT', 'INTERSECT', 'SELECT']);
/** Functions whose own syntax uses FROM or IN (`extract(DAY FROM ts)`, `position(a IN b)`): not a table there. */
const FROM_SYNTAX = new Set(['extract', 'trim', 'substring', 'overlay']);

/** One bracket level while walking the tokens. */
interface Level {
  /** Lower-case name of the function whose arguments this is, if any. */
  fn: string | undefined;
  /** In a FROM clause: a comma starts another table. */
  inFrom: boolean;
  /** In a WITH list: `name AS (` and `AS name` define names. */
  inWith: boolean;
  /** Names WITH defined at this level (CTEs and aliases), visible here and deeper. */
  names: Set<string>;
}

const isName = (t: Token | undefined): t is Token => t !== undefined && (t.kind === 'word' || t.kind === 'quoted');
const isPunct = (t: Token | undefined, p: string) => t !== undefined && t.kind === 'punct' && t.text === p;
const isWord = (t: Token | undefined, w: string) => t !== undefined && t.kind === 'word' && t.text.toUpperCase() === w;
const tableList = () => [...CUSTOM_SQL_TABLES].map((t) => `{db}.${t}`).join(' and ');

/** The walk over one statement's tokens; `fail` throws MLG_CTL_CUSTOM_SQL_INVALID. */
class Checker {
  private readonly stack: Level[] = [{ fn: undefined, inFrom: false, inWith: false, names: new Set() }];
  constructor(private readonly ts: readonly Token[], private readonly fail: (msg: string) => never) {}

  private get level(): Level { return this.stack[this.stack.length - 1]!; }
  private defined(name: string): boolean { return this.stack.some((l) => l.names.has(name)); }
  /** True when tokens at `j` are the `{db}` placeholder. */
  private isDb(j: number): boolean {
    return isPunct(this.ts[j], '{') && this.ts[j + 1]?.kind === 'word' && this.ts[j + 1]!.text === 'db' && isPunct(this.ts[j + 2], '}');
  }

  run(): void {
    const { ts } = this;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (t.kind === 'punct') i = this.punct(i);
      else if (isName(t)) this.name(i);
    }
    if (this.stack.length !== 1) this.fail('has an unclosed parenthesis or bracket');
  }

  private punct(i: number): number {
    const t = this.ts[i]!;
    switch (t.text) {
      case ';': this.fail(`must be a single statement (found ';' at offset ${t.at})`); break;
      case '(': case '[': {
        const p = this.ts[i - 1];
        this.stack.push({ fn: t.text === '(' && isName(p) ? p.value.toLowerCase() : undefined, inFrom: false, inWith: false, names: new Set() });
        break;
      }
      case ')': case ']':
        if (this.stack.length === 1) this.fail(`has an unmatched '${t.text}' at offset ${t.at}`);
        this.stack.pop();
        break;
      case ',':
        if (this.level.inFrom) this.table(i + 1, "',' in FROM");
        break;
      case '{': return this.param(i);
    }
    return i;
  }

  /** `{db}` or `{name:Type}`; returns the index of the closing brace. */
  private param(i: number): number {
    if (this.isDb(i)) return i + 2;
    const name = this.ts[i + 1];
    if (!isName(name) || !isPunct(this.ts[i + 2], ':')) this.fail(`has a '{' at offset ${this.ts[i]!.at} that is neither {db} nor a {name:Type} parameter`);
    if (!CUSTOM_SQL_PARAMS.has(name.value)) this.fail(`uses the unknown parameter {${name.value}} (known: ${[...CUSTOM_SQL_PARAMS].join(', ')}, and {db})`);
    let j = i + 3;
    while (j < this.ts.length && !isPunct(this.ts[j], '}')) {
      // An Identifier parameter would let a bound value (a model name, say) name a table.
      if (isWord(this.ts[j], 'IDENTIFIER')) this.fail(`parameter {${name.value}} must not have the type Identifier`);
      j++;
    }
    if (j >= this.ts.length) this.fail(`parameter {${name.value}} is not closed with '}'`);
    return j;
  }

  private name(i: number): void {
    const { ts } = this;
    const t = ts[i]!;
    const call = isPunct(ts[i + 1], '(');
    if (call) {
      const fn = t.value.toLowerCase();
      if (DENIED_FUNCTIONS.has(fn) || fn.startsWith('dict') || (IN_FUNCTION.test(fn) && fn !== 'in')) {
        this.fail(`calls ${t.value}(), which reads data outside ${tableList()} (refused)`);
      }
    }
    const level = this.level;
    if (level.fn === 'in' && (isPunct(ts[i - 1], '(') || isPunct(ts[i - 1], ','))) this.inArgument(i);
    if (t.kind !== 'word') return;
    const w = t.text.toUpperCase();
    if (STATEMENT_WORDS.has(w)) this.fail(`contains ${w}: only a SELECT (or WITH … SELECT) statement may run`);
    if (w === 'SETTINGS') this.fail('must not carry SETTINGS (the controller sets the limits custom SQL runs with)');
    if (w === 'INTO' || w === 'OUTFILE') this.fail('must not write a file (INTO OUTFILE)');
    if (w === 'FORMAT' && !call) this.fail('must not choose an output FORMAT'); // format(…) is a string function
    if (AFTER_FROM.has(w)) level.inFrom = false;
    if (w === 'SELECT') level.inWith = false;
    else if (w === 'WITH') level.inWith = true;
    else if (w === 'AS' && level.inWith) {
      if (isName(ts[i - 1]) && isPunct(ts[i + 1], '(')) level.names.add(ts[i - 1]!.value); // name AS (subquery)
      else if (isName(ts[i + 1])) level.names.add(ts[i + 1]!.value); // expression AS name
    } else if (w === 'FROM' && !FROM_SYNTAX.has(level.fn ?? '')) {
      this.table(i + 1, 'FROM');
      level.inFrom = true;
    } else if (w === 'JOIN') {
      if (isWord(ts[i - 1], 'ARRAY')) { level.inFrom = false; return; } // ARRAY JOIN takes arrays, not tables
      this.table(i + 1, 'JOIN');
      level.inFrom = true;
    } else if (w === 'IN' && level.fn !== 'position') this.inOperand(i + 1);
  }

  /**
   * A name that is a whole argument of `IN (…)` / `in(…)`: `x IN (a, t)` and `in(x, t)` are the same
   * to the engine, and a table name there is read. Only WITH names may stand alone there.
   */
  private inArgument(i: number): void {
    const t = this.ts[i]!;
    const next = this.ts[i + 1];
    if (isPunct(next, '.') && !isPunct(this.ts[i + 3], '(')) this.fail(`IN (… ${t.value}.${this.ts[i + 2]?.value ?? ''} …) reads a table: only ${tableList()} may be read`);
    if ((isPunct(next, ',') || isPunct(next, ')')) && !this.defined(t.value)) {
      this.fail(`IN (… ${t.value} …) would read a table named ${t.value}: use IN (SELECT … FROM {db}.requests), literals or a WITH name`);
    }
  }

  /** What follows FROM, JOIN or a comma in a FROM clause must be an allowed table, a WITH name or a subquery. */
  private table(j: number, after: string): void {
    const { ts } = this;
    const t = ts[j];
    if (isPunct(t, '(')) return;
    if (this.isDb(j)) return this.dbTable(j + 3, after);
    if (isPunct(t, '{')) this.fail(`${after}: a query parameter cannot name a table`);
    if (!isName(t)) this.fail(`${after} must be followed by a table (${tableList()}) or a subquery, found ${this.ts[j]?.text ?? 'the end'}`);
    if (isPunct(ts[j + 1], '(')) this.fail(`${after} ${t.value}(…): table functions are refused; read ${tableList()}`);
    if (isPunct(ts[j + 1], '.')) {
      const table = ts[j + 2];
      this.fail(`${after} ${t.value}.${table?.value ?? ''}: only ${tableList()} may be read (${t.value.toLowerCase() === 'system' ? 'system tables' : 'other databases'} are refused)`);
    }
    if (this.defined(t.value)) return;
    if (CUSTOM_SQL_TABLES.has(t.value)) this.fail(`${after} ${t.value}: write {db}.${t.value} (a bare name would read the connection's default database)`);
    this.fail(`${after} ${t.value}: only ${tableList()} (or a WITH name) may be read`);
  }

  /** `{db}.` is at j - 3; the table name is at j + 1. */
  private dbTable(j: number, after: string): void {
    const { ts } = this;
    const name = ts[j + 1];
    if (!isPunct(ts[j], '.') || !isName(name)) this.fail(`${after} {db} must be followed by .<table>`);
    if (!CUSTOM_SQL_TABLES.has(name.value)) this.fail(`${after} {db}.${name.value}: only ${tableList()} may be read`);
    const next = ts[j + 2];
    if (next?.kind === 'punct' && (next.text === '(' || next.text === '.')) this.fail(`${after} {db}.${name.value}${next.text}: expected a table name`);
  }

  /** The right side of IN: a list, subquery, literal, parameter, WITH name or allowed table; not another table. */
  private inOperand(j: number): void {
    const { ts } = this;
    const t = ts[j];
    if (this.isDb(j)) return this.dbTable(j + 3, 'IN');
    if (!isName(t) || isPunct(ts[j + 1], '(')) return; // literal, ( … ), [ … ], {param}, or a function call (checked as a name)
    if (isPunct(ts[j + 1], '.')) this.fail(`IN ${t.value}.${ts[j + 2]?.value ?? ''} reads a table: only ${tableList()} may be read`);
    if (!this.defined(t.value)) this.fail(`IN ${t.value} would read a table named ${t.value}: use IN (SELECT … FROM {db}.requests) or a WITH name`);
  }
}

/**
 * Checks that `sql` is one read-only SELECT over the allowed tables (see the module comment) and
 * returns the text to run: without a trailing `;` or trailing comments.
 * @throws MLG_CTL_CUSTOM_SQL_INVALID naming the problem.
 */
export function checkCustomSql(sql: string, where = 'custom_sql'): string {
  const fail = (msg: string): never => { throw ControllerErrors.customSqlInvalid(`${where}: ${msg}`); };
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (err) {
    if (err instanceof SqlLexError) fail(`${err.message} at offset ${err.at}`);
    throw err;
  }
  if (isPunct(tokens[tokens.length - 1], ';')) tokens = tokens.slice(0, -1);
  const first = tokens[0];
  if (!isWord(first, 'SELECT') && !isWord(first, 'WITH')) fail('must be a SELECT (or WITH ... SELECT) statement');
  new Checker(tokens, fail).run();
  return sql.slice(0, tokens[tokens.length - 1]!.end).trim();
}

/** ClickHouse's DateTime64(3) text for `ms`, in UTC. */
export function utcText(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** The query parameters of one arm and window. */
export function customSqlParams(p: { from: number; to: number; model: string; version: string; rolloutId: string }): Record<string, string | number> {
  return { from: utcText(p.from), to: utcText(p.to), from_ms: p.from, to_ms: p.to, model: p.model, version: p.version, rollout_id: p.rolloutId };
}

/** The value of a custom query's result: first column of the first row, or undefined (no data). */
export function firstNumber(rows: readonly Record<string, unknown>[]): number | undefined {
  const row = rows[0];
  if (!row) return undefined;
  const v = Object.values(row)[0];
  if (v === null || v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}
