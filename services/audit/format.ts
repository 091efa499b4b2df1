/**
 * Output formats of the audit CLI: an aligned text table for people, JSON lines and CSV
 * (RFC 4180) for tools. Nested values (maps, parsed evidence) become JSON text in a table or CSV
 * cell; null becomes an empty cell.
 *
 * CSV is opened in spreadsheets, and audited rows hold text that callers chose (consumer ids,
 * redacted payloads): a text cell starting with `=`, `+`, `-`, `@`, tab or carriage return would
 * run as a formula, so it gets a leading `'` (OWASP's CSV-injection advice). Only text: a number
 * (a negative score) stays a number. The API's export applies the same rule in SQL
 * ({@link csvSafeSql}).
 */

/** Formats the CLI prints. */
export const OUTPUT_FORMATS = ['table', 'jsonl', 'csv'] as const;
/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

type Row = Readonly<Record<string, unknown>>;

/** A cell's text: strings as they are, null/undefined empty, anything else as JSON. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** First characters that make a spreadsheet read a cell as a formula. */
export const FORMULA_PREFIXES = ['=', '+', '-', '@', '\t', '\r'] as const;

/** `s` with a leading `'` when a spreadsheet would read it as a formula. */
export function neutraliseFormula(s: string): string {
  return (FORMULA_PREFIXES as readonly string[]).includes(s.charAt(0)) ? `'${s}` : s;
}

/**
 * The ClickHouse expression for {@link neutraliseFormula} of the String column `column` (a
 * constant of the caller, never input), named `column` again.
 */
export function csvSafeSql(column: string): string {
  const firsts = FORMULA_PREFIXES.map((c) => (c === '\t' ? "'\\t'" : c === '\r' ? "'\\r'" : `'${c}'`)).join(', ');
  return `if(substring(${column}, 1, 1) IN (${firsts}), concat('''', ${column}), ${column}) AS ${column}`;
}

/**
 * One CSV field, quoted when it holds a comma, quote, line break or edge space; a text value
 * that a spreadsheet would run as a formula is neutralised first.
 */
export function csvField(v: unknown): string {
  const s = typeof v === 'string' ? neutraliseFormula(v) : cellText(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Columns of `rows` in first-seen order. */
export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/** CSV lines (with a header line when `header`), each ending in CRLF as RFC 4180 asks. */
export function toCsv(rows: readonly Row[], columns = columnsOf(rows), header = true): string {
  const lines = header ? [columns.map(csvField).join(',')] : [];
  for (const r of rows) lines.push(columns.map((c) => csvField(r[c])).join(','));
  return lines.length ? `${lines.join('\r\n')}\r\n` : '';
}

/** JSON lines: one object per line. */
export function toJsonl(rows: readonly Row[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, ' ');

/** An aligned text table; cells longer than `maxCell` characters are cut with an ellipsis. */
export function toTable(rows: readonly Row[], columns = columnsOf(rows), maxCell = 48): string {
  if (rows.length === 0) return '(no rows)\n';
  const cut = (s: string) => (s.length > maxCell ? `${s.slice(0, maxCell - 1)}…` : s);
  const cells = rows.map((r) => columns.map((c) => cut(oneLine(cellText(r[c])))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (parts: string[]) => parts.map((p, i) => p.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

/** `rows` in `format`. */
export function formatRows(rows: readonly Row[], format: OutputFormat, columns?: string[]): string {
  if (format === 'jsonl') return toJsonl(rows);
  if (format === 'csv') return toCsv(rows, columns ?? columnsOf(rows));
  return toTable(rows, columns ?? columnsOf(rows));
}
