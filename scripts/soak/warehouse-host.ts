/**
 * The soak's warehouse: ClickHouse's own engine (chdb) in one process, answering the part of
 * ClickHouse's HTTP interface that @clickhouse/client uses, so every mlgate service of the soak
 * runs in server mode, as a distributed deployment does, against one shared store.
 *
 * Why this exists: this machine has no ClickHouse server that holds mlgate's schema (Debian's
 * clickhouse-server is 18.16, years too old), and chdb binds a data directory to one process, so
 * separate service processes cannot share an embedded engine. The SQL, the table engines, the
 * insert deduplication and the merges are the real engine's; what this host is not: a ClickHouse
 * server. It runs one query at a time (a server runs many), ignores users and passwords, never
 * compresses answers, and has no replication; the soak covers none of those (docs/deploy.md).
 *
 *   node --import tsx scripts/soak/warehouse-host.ts --port 38200 --path /tmp/wh
 *
 * Prints `ready <port>` on stdout once the engine is open and the port listens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { Session } from 'chdb';

/** Settings that only mean something to the HTTP layer of a server (chdb refuses them). */
const HTTP_ONLY = new Set([
  'wait_end_of_query', 'send_progress_in_http_headers', 'http_response_buffer_size', 'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms', 'enable_http_compression', 'http_zlib_compression_level', 'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
]);
/** URL parameters that are not settings. */
const NOT_SETTINGS = new Set(['query', 'query_id', 'database', 'session_id', 'role', 'user', 'password', 'default_format']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One request, as the HTTP interface defines it. */
export interface HttpQuery {
  sql: string;
  params: Record<string, string>;
  settings: Record<string, string>;
  database: string | undefined;
  format: string | undefined;
}

/** Reads what @clickhouse/client put in the URL and the body (the query is in the body unless the URL has one; then the body is data). */
export function parseHttpQuery(url: URL, body: string): HttpQuery {
  const params: Record<string, string> = {};
  const settings: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k.startsWith('param_')) params[k.slice(6)] = v;
    else if (!NOT_SETTINGS.has(k) && !HTTP_ONLY.has(k)) {
      if (!NAME.test(k)) throw new HostError(115, `setting name ${JSON.stringify(k)} is not a name`, 'UNKNOWN_SETTING');
      settings[k] = v;
    }
  }
  const inUrl = url.searchParams.get('query');
  const sql = inUrl ? (body.length > 0 ? `${inUrl}\n${body}` : inUrl) : body;
  return { sql, params, settings, database: url.searchParams.get('database') ?? undefined, format: url.searchParams.get('default_format') ?? undefined };
}

const literal = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);

/**
 * An INSERT carries its settings in its own SETTINGS clause (statement-local, as on a server);
 * `INSERT INTO t (cols) FORMAT X` is what the client sends, so the clause goes before FORMAT.
 */
export function insertWithSettings(sql: string, settings: Record<string, string>): string | undefined {
  const nl = sql.indexOf('\n');
  const head = nl < 0 ? sql : sql.slice(0, nl);
  const m = /^(\s*INSERT\s+INTO\s+[^\n]*?)(\s+FORMAT\s+\w+\s*)$/i.exec(head);
  if (!m) return undefined;
  const clause = Object.entries(settings).map(([k, v]) => `${k} = ${literal(v)}`).join(', ');
  return `${m[1]}${clause ? ` SETTINGS ${clause}` : ''}${m[2]}${nl < 0 ? '' : sql.slice(nl)}`;
}

/** An error answered the way a server answers it (the client parses `Code: N. DB::Exception: ...`). */
class HostError extends Error {
  constructor(readonly code: number, message: string, readonly type: string) { super(message); }
}

function codeOf(err: unknown): { code: number; text: string } {
  if (err instanceof HostError) return { code: err.code, text: `Code: ${err.code}. DB::Exception: ${err.message}. (${err.type})` };
  const text = err instanceof Error ? err.message : String(err);
  const m = /Code: (\d+)\./.exec(text);
  return { code: m ? Number(m[1]) : 1002, text: m ? text.slice(m.index) : `Code: 1002. DB::Exception: ${text}. (UNKNOWN_EXCEPTION)` };
}

/** The engine, its sessions, and one query at a time. */
export class WarehouseHost {
  private readonly main: Session;
  /** Sessions that hold settings for good (SET once; `readonly` last), by their settings. */
  private readonly sessions = new Map<string, Session>();
  private readonly current = new Map<Session, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {
    this.main = new Session(path);
  }

  /** Runs `q` after every earlier request (chdb is one engine; the host keeps it simple). */
  run(q: HttpQuery): Promise<{ body: Buffer; rows: number }> {
    const next = this.queue.then(() => this.exec(q));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async exec(q: HttpQuery): Promise<{ body: Buffer; rows: number }> {
    let sql = q.sql;
    let session = this.main;
    if (Object.keys(q.settings).length > 0) {
      const asInsert = insertWithSettings(sql, q.settings);
      if (asInsert !== undefined) sql = asInsert;
      else session = await this.sessionFor(q.settings);
    }
    if (q.database && q.database !== 'default' && this.current.get(session) !== q.database) {
      if (!NAME.test(q.database)) throw new HostError(81, `database ${JSON.stringify(q.database)} is not a name`, 'UNKNOWN_DATABASE');
      await session.queryAsync(`USE ${q.database}`);
      this.current.set(session, q.database);
    }
    const opts = q.format ? { format: q.format } : { format: 'TabSeparated' };
    const res = Object.keys(q.params).length > 0 ? await session.queryBindAsync(sql, q.params, opts) : await session.queryAsync(sql, opts);
    return { body: Buffer.from(res.bytes()), rows: Number(res.rowsRead ?? 0) };
  }

  private async sessionFor(settings: Record<string, string>): Promise<Session> {
    const key = JSON.stringify(Object.entries(settings).sort(([a], [b]) => a.localeCompare(b)));
    const have = this.sessions.get(key);
    if (have) return have;
    const s = new Session(this.path);
    const names = Object.keys(settings).sort((a, b) => Number(a === 'readonly') - Number(b === 'readonly'));
    try {
      for (const k of names) await s.queryAsync(`SET ${k} = ${literal(settings[k]!)}`);
    } catch (err) {
      s.close();
      throw err;
    }
    this.sessions.set(key, s);
    return s;
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.main.close();
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  return (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
}

async function handle(host: WarehouseHost, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (url.pathname === '/ping') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('Ok.\n');
    return;
  }
  const queryId = url.searchParams.get('query_id') ?? '';
  try {
    const q = parseHttpQuery(url, await readBody(req));
    if (q.sql.trim() === '') throw new HostError(62, 'Empty query', 'SYNTAX_ERROR');
    const out = await host.run(q);
    res.writeHead(200, {
      'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-query-id': queryId, 'x-clickhouse-timezone': 'UTC',
      'x-clickhouse-summary': JSON.stringify({ read_rows: String(out.rows), read_bytes: '0', written_rows: String(out.rows), written_bytes: '0', total_rows_to_read: '0' }),
    }).end(out.body);
  } catch (err) {
    const { code, text } = codeOf(err);
    res.writeHead(500, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-exception-code': String(code), 'x-clickhouse-query-id': queryId }).end(`${text}\n`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, path: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535 || !values.path) {
    console.error('usage: warehouse-host.ts --port <port> --path <data directory>');
    process.exit(2);
  }
  const host = new WarehouseHost(values.path);
  const server = createServer((req, res) => { void handle(host, req, res); });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`));
  const stop = () => server.close(() => { host.close(); process.exit(0); });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
