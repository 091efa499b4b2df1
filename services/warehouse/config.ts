/**
 * The `warehouse` config section: which ClickHouse engine, where, as whom, and how long each
 * table keeps its rows. Defaults live here.
 *
 * Engine choice: `engine` picks it explicitly; when it is absent, a configured `url` (for example
 * from `CLICKHOUSE_URL`) means `server` and no url means `embedded` (chdb, in process).
 *
 * Compose it into a service's schema with `.prefault({})` (not `.default({})`): zod 4's
 * `default` skips parsing, so the engine rule and nested defaults would not apply.
 */
import { z } from 'zod';
import { IDENTIFIER } from './identifiers.ts';

const days = z.number().int().min(1).max(36500);

/** Retention in days per table; `null` keeps rows forever (no TTL). */
export const RetentionSection = z.strictObject({
  /** Raw events (`requests`). */
  requests: days.nullable().default(30),
  /** Per-minute aggregates (`requests_1m`). */
  aggregates: days.nullable().default(400),
  /** Canary decisions; kept forever by default (audit). */
  canaryDecisions: days.nullable().default(null),
  /** Admin changes; kept forever by default (audit). */
  adminChanges: days.nullable().default(null),
});

/** Parsed retention settings. */
export type Retention = z.output<typeof RetentionSection>;

/** Schema of the `warehouse` section. */
export const WarehouseSection = z
  .strictObject({
    /** `embedded` (chdb in process) or `server` (HTTP). Default: `server` when `url` is set, else `embedded`. */
    engine: z.enum(['embedded', 'server']).optional(),
    /** Embedded data directory; relative paths resolve against `dataDir`. Default `<dataDir>/clickhouse`. */
    path: z.string().min(1).optional(),
    /** Server URL, e.g. `http://127.0.0.1:8123`. */
    url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }).optional(),
    /** Server user. */
    username: z.string().min(1).default('default'),
    /** Server password. */
    password: z.string().default(''),
    /** Database holding mlgate's tables. */
    database: z.string().regex(IDENTIFIER, 'expected a plain identifier (letters, digits, _)').default('mlgate'),
    /** Per-request timeout against a server. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Sockets per server. */
    maxOpenConnections: z.number().int().positive().max(256).default(10),
    /** Compress insert bodies sent to a server (gzip). */
    compressRequests: z.boolean().default(false),
    /** Blocks remembered for insert deduplication per table (`non_replicated_deduplication_window`). */
    dedupWindow: z.number().int().min(100).max(1_000_000).default(10_000),
    /** Days of retention per table. */
    retention: RetentionSection.prefault({}),
  })
  .transform((w) => ({ ...w, engine: w.engine ?? (w.url ? ('server' as const) : ('embedded' as const)) }))
  .superRefine((w, ctx) => {
    if (w.engine === 'server' && !w.url) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'engine "server" needs a url (or set CLICKHOUSE_URL)' });
    }
  });

/** Parsed `warehouse` section. */
export type WarehouseConfig = z.output<typeof WarehouseSection>;
/** Input shape of the `warehouse` section (what a YAML file or a test writes). */
export type WarehouseInput = z.input<typeof WarehouseSection>;
