/**
 * The embedded engine's connection registry. chdb binds one data directory per process, so every
 * warehouse on the same path shares one @clickhouse/client (reference counted), and asking for a
 * second path while one is open fails with a clear error instead of chdb's.
 *
 * The data directory holds every stored event: it is created 0700 (an existing one is tightened).
 * chdb creates its own files and folders inside with the process umask; they are not chmodded
 * one by one, since no other user can reach them through a 0700 folder.
 */
import { ensurePrivateDir, type PrivateDirResult } from '../core/private-dir.ts';
import { resolve } from 'node:path';
import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection, type ChdbConnection } from 'chdb/connection';
import { WarehouseErrors, mapClickHouseError } from './errors.ts';

interface Entry {
  client: ClickHouseClient;
  connection: ChdbConnection;
  refs: number;
  /** Extra sessions with fixed settings, by their settings (see {@link EmbeddedHandle.sessionClient}). */
  sessions: Map<string, Promise<ClickHouseClient>>;
}

/** Settings names and values {@link EmbeddedHandle.sessionClient} puts into SET statements. */
const SETTING_NAME = /^[a-z_]+$/;
const SETTING_TEXT = /^[a-z_]+$/;

const sessionKey = (settings: Readonly<Record<string, string | number>>) => JSON.stringify(Object.entries(settings).sort(([a], [b]) => a.localeCompare(b)));

/**
 * Opens another session on the engine's data path and SETs `settings` on it for good, `readonly`
 * last (once it is 1, the session can change no setting, and neither can a query it runs).
 */
async function openSession(path: string, settings: Readonly<Record<string, string | number>>): Promise<ClickHouseClient> {
  const names = Object.keys(settings).sort((a, b) => Number(a === 'readonly') - Number(b === 'readonly'));
  const client = createClient({ connection: createChdbConnection({ path }), log: { level: ClickHouseLogLevel.OFF } } as Parameters<typeof createClient>[0]);
  try {
    for (const name of names) {
      const v = settings[name]!;
      if (!SETTING_NAME.test(name) || (typeof v === 'number' ? !Number.isFinite(v) : !SETTING_TEXT.test(v))) {
        throw WarehouseErrors.queryFailed(`session setting ${name} = ${JSON.stringify(v)} is not a plain name and value`);
      }
      await client.command({ query: `SET ${name} = ${typeof v === 'number' ? v : `'${v}'`}` });
    }
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return client;
}

const open = new Map<string, Entry>();

/** A shared embedded client; call {@link EmbeddedHandle.release} once when done. */
export interface EmbeddedHandle {
  readonly client: ClickHouseClient;
  /**
   * Raw passthrough insert: the JSON rows buffer goes to the engine without a copy and is
   * parsed by its multithreaded parser (about twice as fast as a client insert). `settings`
   * apply to this statement only.
   */
  rawInsert(table: string, body: Buffer, format: 'JSONEachRow' | 'JSONCompactEachRow', columns: readonly string[] | undefined,
    settings: Record<string, string | number>): Promise<void>;
  /**
   * A client on a second session of this engine whose every query runs with `settings` (SET once
   * when the session opens; settings on chdb otherwise become session-wide SETs of the main
   * session). Shared by callers asking for the same settings; closed with the engine.
   */
  sessionClient(settings: Readonly<Record<string, string | number>>): Promise<ClickHouseClient>;
  /**
   * Closes the session of `settings`; the next {@link sessionClient} opens a fresh one. For after
   * a failed query: chdb can hand the output of statements before the failing one to the
   * session's next query.
   */
  dropSession(settings: Readonly<Record<string, string | number>>): Promise<void>;
  /** Absolute data path. */
  readonly path: string;
  /** Modes tightened (or not) when this handle opened the engine; empty when it was shared. */
  readonly modes: PrivateDirResult;
  /** Drops this reference; the engine closes with the last one. Idempotent. */
  release(): Promise<void>;
}

/** Opens (or shares) the embedded engine at `path`, creating the directory. */
export function acquireEmbedded(path: string): EmbeddedHandle {
  const abs = resolve(path);
  let entry = open.get(abs);
  let modes: PrivateDirResult = { tightened: [], refused: [] };
  if (!entry) {
    const other = [...open.keys()][0];
    if (other !== undefined) {
      throw WarehouseErrors.enginePathConflict(
        `the embedded ClickHouse engine already uses ${other} in this process; it cannot also open ${abs} (one data path per process)`,
      );
    }
    modes = ensurePrivateDir(abs);
    let client: ClickHouseClient;
    let connection: ChdbConnection;
    try {
      connection = createChdbConnection({ path: abs });
      client = createClient({ connection, log: { level: ClickHouseLogLevel.OFF } } as Parameters<typeof createClient>[0]);
    } catch (err) {
      if (/only one active data directory/.test(String((err as Error).message))) {
        throw WarehouseErrors.enginePathConflict(`cannot open the embedded engine at ${abs}: ${(err as Error).message}`, { cause: err });
      }
      throw mapClickHouseError(err, `open embedded engine at ${abs}`);
    }
    entry = { client, connection, refs: 0, sessions: new Map() };
    open.set(abs, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    client: held.client,
    path: abs,
    modes,
    async rawInsert(table, body, format, columns, settings) {
      await held.connection.chdb.rawInsert({ table, values: body, format, settings, ...(columns ? { columns } : {}) });
    },
    sessionClient(settings) {
      if (released) return Promise.reject(WarehouseErrors.closed('the embedded engine handle is released'));
      const key = sessionKey(settings);
      let session = held.sessions.get(key);
      if (!session) {
        session = openSession(abs, settings);
        held.sessions.set(key, session);
        session.catch(() => held.sessions.delete(key));
      }
      return session;
    },
    async dropSession(settings) {
      const key = sessionKey(settings);
      const session = held.sessions.get(key);
      held.sessions.delete(key);
      await session?.then((c) => c.close(), () => {});
    },
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0 && open.get(abs) === held) {
        open.delete(abs);
        const sessions = [...held.sessions.values()];
        held.sessions.clear();
        for (const session of sessions) await session.then((c) => c.close(), () => {});
        await held.client.close();
      }
    },
  };
}

/** Paths currently open in this process, with their reference counts (for tests and diagnostics). */
export function openEmbeddedPaths(): Array<{ path: string; refs: number }> {
  return [...open.entries()].map(([path, e]) => ({ path, refs: e.refs }));
}
