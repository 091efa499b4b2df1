/**
 * The embedded engine's connection registry. chdb binds one data directory per process, so every
 * warehouse on the same path shares one @clickhouse/client (reference counted), and asking for a
 * second path while one is open fails with a clear error instead of chdb's.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection, type ChdbConnection } from 'chdb/connection';
import { WarehouseErrors, mapClickHouseError } from './errors.ts';

interface Entry {
  client: ClickHouseClient;
  connection: ChdbConnection;
  refs: number;
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
  /** Absolute data path. */
  readonly path: string;
  /** Drops this reference; the engine closes with the last one. Idempotent. */
  release(): Promise<void>;
}

/** Opens (or shares) the embedded engine at `path`, creating the directory. */
export function acquireEmbedded(path: string): EmbeddedHandle {
  const abs = resolve(path);
  let entry = open.get(abs);
  if (!entry) {
    const other = [...open.keys()][0];
    if (other !== undefined) {
      throw WarehouseErrors.enginePathConflict(
        `the embedded ClickHouse engine already uses ${other} in this process; it cannot also open ${abs} (one data path per process)`,
      );
    }
    mkdirSync(abs, { recursive: true });
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
    entry = { client, connection, refs: 0 };
    open.set(abs, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    client: held.client,
    path: abs,
    async rawInsert(table, body, format, columns, settings) {
      await held.connection.chdb.rawInsert({ table, values: body, format, settings, ...(columns ? { columns } : {}) });
    },
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0 && open.get(abs) === held) {
        open.delete(abs);
        await held.client.close();
      }
    },
  };
}

/** Paths currently open in this process, with their reference counts (for tests and diagnostics). */
export function openEmbeddedPaths(): Array<{ path: string; refs: number }> {
  return [...open.entries()].map(([path, e]) => ({ path, refs: e.refs }));
}
