/**
 * One warehouse client for both ClickHouse engines: a server over HTTP, or the embedded chdb
 * engine plugged into the same @clickhouse/client through `chdb/connection`. Both run the same
 * SQL: table names come from {@link Warehouse.table} or the `{db}` placeholder, and every value
 * is a `{name:Type}` query parameter, never spliced into the text.
 *
 * Embedded caveat: the engine keeps one session per process, and a `SET` (which is what
 * @clickhouse/client's `clickhouse_settings` become on chdb) lasts for the rest of that session.
 * So this module passes no per-query settings on the embedded engine except inside the
 * statement's own `SETTINGS` clause; callers using {@link Warehouse.client} directly must do
 * the same.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { createClient, ClickHouseLogLevel, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import type { WarehouseConfig } from './config.ts';
// Type only: the embedded engine's native code loads on first use (see loadEmbedded), so server
// mode works on platforms chdb has no build for.
import type { EmbeddedHandle } from './embedded.ts';
import { logPrivateDir } from '../core/private-dir.ts';
import { WarehouseErrors, mapClickHouseError } from './errors.ts';
import { identifier, withDatabase } from './identifiers.ts';

/** Text formats {@link Warehouse.stream} can export. */
export const STREAM_FORMATS = ['JSONEachRow', 'CSV', 'CSVWithNames', 'TabSeparated', 'TabSeparatedWithNames', 'Parquet'] as const;
/** One of {@link STREAM_FORMATS}. */
export type StreamFormat = (typeof STREAM_FORMATS)[number];

/** Characters allowed in an insert deduplication token (it goes into a SETTINGS clause on chdb). */
export const DEDUP_TOKEN = /^[A-Za-z0-9._:/-]{1,256}$/;

/** Options of {@link Warehouse.insert}. */
export interface InsertOptions {
  /**
   * Insert deduplication token (`insert_deduplication_token`). The same token on a retried insert
   * makes ClickHouse drop the repeat, provided the table has a deduplication window (mlgate's
   * tables do). Use a token that names the rows, e.g. `topic:partition:first-last`.
   */
  dedupToken?: string;
  /** Ignore row fields the table lacks (`input_format_skip_unknown_fields`). */
  skipUnknownFields?: boolean;
}

/** Bounds and identity of {@link Warehouse.queryReadOnly}. */
export interface ReadOnlyOptions {
  /** `max_execution_time`, seconds. */
  maxExecutionS: number;
  /** `max_result_rows` (with `result_overflow_mode = 'throw'`; also bounds subquery results). */
  maxResultRows: number;
  /** `max_memory_usage`, bytes. */
  maxMemoryBytes: number;
  /**
   * Server only: run as this user and send no settings (a `readonly = 1` profile refuses any);
   * the user's profile holds read-only mode and the bounds. Without it the warehouse's own user
   * runs the query with the settings of {@link readOnlySettings}.
   */
  user?: { username: string; password: string };
}

/**
 * The settings of a read-only query: `readonly = 1` (reads only, and no table functions: `readonly
 * = 2` would allow them), no DDL, and the bounds. On a server they travel with the request and
 * apply to it alone.
 */
export function readOnlySettings(o: ReadOnlyOptions): Record<string, number | string> {
  return {
    max_execution_time: o.maxExecutionS, max_result_rows: o.maxResultRows, result_overflow_mode: 'throw',
    max_memory_usage: o.maxMemoryBytes, allow_ddl: 0, readonly: 1,
  };
}

/** Row formats {@link Warehouse.insertJsonLines} accepts. */
export type JsonLinesFormat = 'JSONEachRow' | 'JSONCompactEachRow';

/** Options of {@link Warehouse.insertJsonLines}. */
export interface JsonLinesOptions extends InsertOptions {
  /** `JSONEachRow` (objects, the default) or `JSONCompactEachRow` (arrays in `columns` order). */
  format?: JsonLinesFormat;
  /** Column list of the rows; required for JSONCompactEachRow. */
  columns?: readonly string[];
}

/** The warehouse port: what every mlgate component uses to read and write ClickHouse. */
export interface Warehouse {
  /** Which engine this is. */
  readonly engine: 'embedded' | 'server';
  /** The database holding mlgate's tables (a validated identifier). */
  readonly database: string;
  /** The underlying client, for what this interface lacks. See the module note on settings. */
  readonly client: ClickHouseClient;
  /** `db.name`, with `name` checked to be a plain identifier. */
  table(name: string): string;
  /**
   * Runs a SELECT and returns its rows (JSONEachRow). 64-bit integers arrive as numbers on both
   * engines (exact up to 2^53; select `toString(x)` when you need more).
   */
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /**
   * Runs untrusted SELECT text read-only and bounded (see {@link ReadOnlyOptions}): writes, DDL,
   * SETTINGS changes and table functions fail, in every statement of the text. On the embedded
   * engine it runs on a second session whose settings are fixed when it opens; `opts.user` is
   * ignored there. Scalar functions (`file()` on the embedded engine reads any file the process
   * can) are not stopped by this: callers check the text first.
   */
  queryReadOnly<T = Record<string, unknown>>(sql: string, params: Record<string, unknown> | undefined, opts: ReadOnlyOptions): Promise<T[]>;
  /** Runs a SELECT and returns its output as a byte stream in `format` (for large exports). */
  stream(sql: string, params?: Record<string, unknown>, opts?: { format?: StreamFormat }): Promise<Readable>;
  /** Runs a statement that returns nothing (DDL, ALTER, INSERT … SELECT). */
  command(sql: string, params?: Record<string, unknown>): Promise<void>;
  /** Inserts rows (plain objects keyed by column) into `table` (a bare name or `db.table`). */
  insert(table: string, rows: readonly object[], opts?: InsertOptions): Promise<void>;
  /** Inserts rows already serialized, one per line (JSONEachRow objects or JSONCompactEachRow arrays). */
  insertJsonLines(table: string, body: Buffer, opts?: JsonLinesOptions): Promise<void>;
  /** True when ClickHouse answers a query with the configured credentials. */
  ping(): Promise<boolean>;
  /** The engine's version string, e.g. `26.7.2.1` or `18.16.1`. */
  serverVersion(): Promise<string>;
  /** Releases the connection (the embedded engine closes with its last user). */
  close(): Promise<void>;
}

/** Options of {@link createWarehouse}. */
export interface WarehouseOptions {
  logger?: Logger;
  /** Base for a relative (or absent) embedded `path`; default `data`. */
  dataDir?: string;
}

/** Major and minor of a version string, for capability checks. */
export function parseVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Resolves the embedded data path from the config and the data directory. */
export function embeddedPath(cfg: Pick<WarehouseConfig, 'path'>, dataDir = 'data'): string {
  if (cfg.path && isAbsolute(cfg.path)) return cfg.path;
  return join(dataDir, cfg.path ?? 'clickhouse');
}

function qualify(database: string, name: string): string {
  const parts = name.split('.');
  if (parts.length === 2) return `${identifier(parts[0]!, 'database')}.${identifier(parts[1]!, 'table')}`;
  return `${database}.${identifier(name, 'table')}`;
}

function jsonLines(rows: readonly object[]): string {
  let body = '';
  for (const r of rows) body += JSON.stringify(r) + '\n';
  return body;
}

class ClickHouseWarehouse implements Warehouse {
  readonly engine: 'embedded' | 'server';
  readonly database: string;
  readonly client: ClickHouseClient;
  private readonly handle: EmbeddedHandle | undefined;
  private readonly log: Logger;
  /** Server: opens a client as another user (for {@link ReadOnlyOptions.user}). */
  private readonly connectAs: ((username: string, password: string) => ClickHouseClient) | undefined;
  private readonly userClients = new Map<string, ClickHouseClient>();
  private version: string | undefined;
  private closed = false;

  constructor(engine: 'embedded' | 'server', database: string, client: ClickHouseClient, handle: EmbeddedHandle | undefined, log: Logger,
    connectAs?: (username: string, password: string) => ClickHouseClient) {
    this.engine = engine;
    this.database = identifier(database, 'database');
    this.client = client;
    this.handle = handle;
    this.log = log;
    this.connectAs = connectAs;
  }

  table(name: string): string {
    return qualify(this.database, name);
  }

  private sql(text: string): string {
    if (this.closed) throw WarehouseErrors.closed('the warehouse is closed');
    return withDatabase(text, this.database);
  }

  private params(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
    return params && Object.keys(params).length > 0 ? params : undefined;
  }

  async query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    const query = this.sql(sql);
    try {
      const rs = await this.client.query({ query, format: 'JSONEachRow', query_params: this.params(params) });
      return await rs.json<T>();
    } catch (err) {
      throw this.fail(err, 'query');
    }
  }

  async queryReadOnly<T>(sql: string, params: Record<string, unknown> | undefined, opts: ReadOnlyOptions): Promise<T[]> {
    const query = this.sql(sql);
    const query_params = this.params(params);
    try {
      let rs;
      if (this.handle) {
        const settings = readOnlySettings(opts);
        const session = await this.handle.sessionClient(settings);
        try {
          rs = await session.query({ query, format: 'JSONEachRow', query_params });
        } catch (err) {
          await this.handle.dropSession(settings);
          throw err;
        }
      } else if (opts.user && this.connectAs) {
        const key = `${opts.user.username}\n${opts.user.password}`;
        let c = this.userClients.get(key);
        if (!c) this.userClients.set(key, c = this.connectAs(opts.user.username, opts.user.password));
        rs = await c.query({ query, format: 'JSONEachRow', query_params });
      } else {
        rs = await this.client.query({ query, format: 'JSONEachRow', query_params, clickhouse_settings: readOnlySettings(opts) as ClickHouseSettings });
      }
      return await rs.json<T>();
    } catch (err) {
      throw this.fail(err, 'read-only query');
    }
  }

  async stream(sql: string, params?: Record<string, unknown>, opts: { format?: StreamFormat } = {}): Promise<Readable> {
    const format = opts.format ?? 'JSONEachRow';
    if (!(STREAM_FORMATS as readonly string[]).includes(format)) {
      throw WarehouseErrors.queryFailed(`stream format ${format} is not one of ${STREAM_FORMATS.join(', ')}`);
    }
    const query = `${this.sql(sql)}\nFORMAT ${format}`;
    try {
      const res = await this.client.exec({ query, query_params: this.params(params) });
      return res.stream as Readable;
    } catch (err) {
      throw this.fail(err, 'stream');
    }
  }

  async command(sql: string, params?: Record<string, unknown>): Promise<void> {
    const query = this.sql(sql);
    try {
      await this.client.command({ query, query_params: this.params(params) });
    } catch (err) {
      throw this.fail(err, 'command');
    }
  }

  async insert(table: string, rows: readonly object[], opts: InsertOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    await this.insertJsonLines(table, Buffer.from(jsonLines(rows)), opts);
  }

  async insertJsonLines(table: string, body: Buffer, opts: JsonLinesOptions = {}): Promise<void> {
    if (this.closed) throw WarehouseErrors.closed('the warehouse is closed');
    if (body.length === 0) return;
    const target = this.table(table);
    const format = opts.format ?? 'JSONEachRow';
    if (format !== 'JSONEachRow' && format !== 'JSONCompactEachRow') throw WarehouseErrors.queryFailed(`insert format ${String(format)} is not supported`);
    const columns = opts.columns?.map((c) => identifier(c, 'column'));
    if (format === 'JSONCompactEachRow' && !columns?.length) throw WarehouseErrors.queryFailed('JSONCompactEachRow inserts need the column list');
    const colsClause = columns?.length ? ` (${columns.join(', ')})` : '';
    if (opts.dedupToken !== undefined && !DEDUP_TOKEN.test(opts.dedupToken)) {
      throw WarehouseErrors.queryFailed(`dedup token ${JSON.stringify(opts.dedupToken)} must match ${DEDUP_TOKEN.source}`);
    }
    try {
      if (this.handle) {
        // Statement-local settings (a session SET would outlive this insert; see the module note).
        await this.handle.rawInsert(target, body, format, columns, {
          insert_deduplication_token: opts.dedupToken ?? '',
          async_insert: 0,
          input_format_skip_unknown_fields: opts.skipUnknownFields ? 1 : 0,
        });
      } else {
        const settings: ClickHouseSettings = {};
        if (opts.dedupToken !== undefined) settings.insert_deduplication_token = opts.dedupToken;
        if (opts.skipUnknownFields) settings.input_format_skip_unknown_fields = 1;
        const res = await this.client.exec({
          query: `INSERT INTO ${target}${colsClause} FORMAT ${format}`, values: Readable.from([body]), clickhouse_settings: settings,
        });
        res.stream.resume();
      }
    } catch (err) {
      throw this.fail(err, `insert into ${target}`);
    }
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.query('SELECT 1 AS ok');
      return true;
    } catch (err) {
      this.log.debug({ err }, 'warehouse ping failed');
      return false;
    }
  }

  async serverVersion(): Promise<string> {
    if (!this.version) {
      const rows = await this.query<{ v: string }>('SELECT version() AS v');
      this.version = rows[0]?.v ?? '0.0';
    }
    return this.version;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) await this.handle.release();
    else {
      for (const c of this.userClients.values()) await c.close().catch(() => {});
      await this.client.close();
    }
  }

  private fail(err: unknown, what: string): Error {
    if (/Unknown setting param_/.test(String((err as Error)?.message))) {
      return WarehouseErrors.unsupported(`${what}: this ClickHouse server has no query parameters (needs 19.x or later)`, { cause: err });
    }
    return mapClickHouseError(err, `${what} (${this.engine})`);
  }
}

/** Platforms the embedded engine's native package is published for (chdb's @chdb/lib-* packages). */
export const EMBEDDED_PLATFORMS: readonly string[] = ['linux-x64'];

/**
 * Loads the embedded engine module, and with it chdb's native binding. Without a binding for this
 * platform it fails with one message naming the platform and the alternative.
 * @throws MLG_WH_EMBEDDED_UNSUPPORTED when chdb has no native binding here.
 */
export async function loadEmbedded(): Promise<typeof import('./embedded.ts')> {
  try {
    // chdb is CommonJS: require it here first, so a missing binding throws in this try (an ESM
    // import of a failing CommonJS module under a loader hook, as tsx installs, also rethrows
    // the error later as an uncaught exception). The import below then finds it in the cache.
    createRequire(import.meta.url)('chdb/connection');
  } catch (cause) {
    if ((cause as { code?: unknown }).code !== 'CHDB_PLATFORM' && (cause as { code?: unknown }).code !== 'CHDB_ABI') throw cause;
    const platform = `${process.platform}-${process.arch}`;
    throw WarehouseErrors.embeddedUnsupported(
      `the embedded ClickHouse engine (chdb) cannot load on ${platform}: ${(cause as Error).message.split('. ')[0]}. `
      + `Embedded mode (mlgate start, warehouse.engine: embedded) runs on ${EMBEDDED_PLATFORMS.join(', ')} only; `
      + 'on this platform use a ClickHouse server: warehouse.engine: server with warehouse.url (or CLICKHOUSE_URL)',
      { cause },
    );
  }
  return import('./embedded.ts');
}

/**
 * Opens the warehouse the configuration names. Does not contact a server (so a service can start
 * while ClickHouse is down); the first query does.
 * @throws MLG_WH_ENGINE_PATH_CONFLICT when the embedded engine already holds another path.
 */
export async function createWarehouse(cfg: WarehouseConfig, opts: WarehouseOptions = {}): Promise<Warehouse> {
  const log = opts.logger ?? silentLogger();
  if (cfg.engine === 'embedded') {
    const { acquireEmbedded } = await loadEmbedded();
    const handle = acquireEmbedded(embeddedPath(cfg, opts.dataDir));
    logPrivateDir(log, 'embedded warehouse data directory', handle.modes);
    log.debug({ path: handle.path, database: cfg.database }, 'embedded warehouse opened');
    return new ClickHouseWarehouse('embedded', cfg.database, handle.client, handle, log);
  }
  if (!cfg.url) throw WarehouseErrors.unavailable('warehouse.engine is server but warehouse.url is not set');
  const url = cfg.url;
  const client = createClient({
    url,
    username: cfg.username,
    password: cfg.password,
    request_timeout: cfg.requestTimeoutMs,
    max_open_connections: cfg.maxOpenConnections,
    compression: { request: cfg.compressRequests, response: false },
    application: 'mlgate',
    log: { level: ClickHouseLogLevel.OFF },
    // Same JSON as the embedded engine (ClickHouse 26 default): 64-bit integers as numbers.
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  // A read-only user's client sends no settings at all: a readonly = 1 profile refuses any.
  const connectAs = (username: string, password: string) => createClient({
    url, username, password, request_timeout: cfg.requestTimeoutMs, max_open_connections: 2, application: 'mlgate', log: { level: ClickHouseLogLevel.OFF },
  });
  log.debug({ url: new URL(url).origin, database: cfg.database }, 'server warehouse opened');
  return new ClickHouseWarehouse('server', cfg.database, client, undefined, log, connectAs);
}
