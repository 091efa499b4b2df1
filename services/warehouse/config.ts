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

/** `zkPath` default: one Keeper path per shard, database and table (ClickHouse fills the macros). */
export const DEFAULT_ZK_PATH = '/clickhouse/tables/{shard}/{database}/{table}';

/** Text that goes into a single-quoted SQL literal: printable ASCII, no quote or backslash. */
const literalText = (what: string) => z.string().min(1).max(512)
  .refine((v) => /^[\x20-\x7e]*$/.test(v) && !/['\\]/.test(v), `${what} must be printable ASCII without quotes or backslashes`);

/**
 * Cluster mode (`warehouse.cluster`): absent, the migrations target one server, as before. Set,
 * every CREATE/ALTER of the schema runs `ON CLUSTER <name>`, MergeTree-family engines become their
 * `Replicated*` variants (unless `replicated: false`) and the deduplication window becomes
 * `replicated_deduplication_window`, so a retried insert with the same token is dropped on every
 * replica. docs/warehouse.md, "Cluster mode".
 */
export const ClusterSection = z.strictObject({
  /** Cluster name as in the servers' `remote_servers` (what `ON CLUSTER` names). */
  name: z.string().regex(IDENTIFIER, 'expected a plain identifier (letters, digits, _), as in remote_servers'),
  /** `Replicated*` engines (default). `false`: sharded only, each node's tables plain MergeTree. */
  replicated: z.boolean().default(true),
  /** Keeper path of each replicated table; must hold `{table}` so tables do not share one. */
  zkPath: literalText('zkPath')
    .refine((p) => p.startsWith('/'), 'zkPath must start with /')
    .refine((p) => p.includes('{table}'), 'zkPath must contain the {table} macro (else every table would share one Keeper path)')
    .default(DEFAULT_ZK_PATH),
  /** Replica name, normally the servers' `{replica}` macro. */
  replica: literalText('replica').default('{replica}'),
  /**
   * `replicated_deduplication_window_seconds` of the deduplicated tables: how long a replicated
   * table remembers an insert token. ClickHouse's default is an hour (26.x), shorter than an
   * ingester may stay down between an insert and its commit; default 7 days, as the batch ledger.
   */
  dedupWindowSeconds: z.number().int().min(3600).max(31_536_000).default(604_800),
  /** Also create `<table>_all` Distributed tables over `requests` and `requests_1m`, for reads across shards. */
  distributed: z.boolean().default(false),
});

/** Parsed `warehouse.cluster`. */
export type ClusterConfig = z.output<typeof ClusterSection>;

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
    /** Blocks remembered for insert deduplication per table (`non_replicated_deduplication_window`, or `replicated_deduplication_window` in cluster mode). */
    dedupWindow: z.number().int().min(100).max(1_000_000).default(10_000),
    /** Days of retention per table. */
    retention: RetentionSection.prefault({}),
    /** Cluster mode for the migrations; absent = one server. */
    cluster: ClusterSection.optional(),
  })
  .transform((w) => ({ ...w, engine: w.engine ?? (w.url ? ('server' as const) : ('embedded' as const)) }))
  .superRefine((w, ctx) => {
    if (w.engine === 'server' && !w.url) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'engine "server" needs a url (or set CLICKHOUSE_URL)' });
    }
    if (w.cluster && w.engine !== 'server') {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'cluster mode needs engine "server" (the embedded engine is one node)' });
    }
  });

/** Parsed `warehouse` section. */
export type WarehouseConfig = z.output<typeof WarehouseSection>;
/** Input shape of the `warehouse` section (what a YAML file or a test writes). */
export type WarehouseInput = z.input<typeof WarehouseSection>;
