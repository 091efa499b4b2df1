/**
 * The audit process, wiring only: read and validate the config (sections `audit`, `warehouse`,
 * `telemetry`, `log`, `dataDir`), open the warehouse, build the hasher and the audit service,
 * and (for `mlgate audit serve`) run the migrations and the HTTP API. The CLI opens the same
 * runtime without migrating: a read-only tool must not change table TTLs; it checks the schema
 * instead and names the command that fixes it.
 */
import type { DestinationStream } from 'pino';
import { loadConfig } from '../core/config.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { componentLogger, createLogger, type Logger } from '../core/log.ts';
import { createHasher } from '../telemetry/hash.ts';
import { migrate } from '../warehouse/migrate.ts';
import { createWarehouse, type Warehouse } from '../warehouse/warehouse.ts';
import { CHAINED_TABLES } from '../ledger/chained-tables.ts';
import { AuditProcessConfig } from './config.ts';
import { AuditErrors } from './errors.ts';
import { createAuditApp } from './server.ts';
import { createAuditService, type AuditService } from './service.ts';
import { requireChainColumns } from './verify.ts';

/** An open audit runtime. */
export interface AuditRuntime {
  readonly config: AuditProcessConfig;
  readonly warehouse: Warehouse;
  readonly service: AuditService;
  readonly logger: Logger;
  /** Closes the warehouse. */
  close(): Promise<void>;
}

/** Options of {@link openAudit}. */
export interface OpenAuditOptions {
  /** YAML config file; absent = defaults and environment only. */
  configFile?: string | undefined;
  env: EnvSnapshot;
  logDestination?: DestinationStream;
  /** Run the migrations (the service does; the CLI does not). */
  migrate?: boolean;
  /** Clock for tests. */
  now?: () => number;
}

/** Fails with MLG_AUD_SCHEMA_MISSING unless the tables the audit reads exist with their chain columns. */
export async function checkSchema(wh: Warehouse): Promise<void> {
  const need = ['requests', ...CHAINED_TABLES];
  const rows = await wh.query<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}', { db: wh.database, names: need });
  const have = new Set(rows.map((r) => r.name));
  const missing = need.filter((n) => !have.has(n));
  if (missing.length) throw AuditErrors.schemaMissing(`database ${wh.database} lacks ${missing.join(', ')}: run \`mlgate migrate\` (or start a service, which migrates)`);
  await requireChainColumns(wh, CHAINED_TABLES);
}

/** Loads the config (MLG_CORE_CONFIG_INVALID names a bad field) and opens the audit runtime. */
export async function openAudit(opts: OpenAuditOptions): Promise<AuditRuntime> {
  const config = loadConfig(AuditProcessConfig, opts.configFile, opts.env);
  const logger = createLogger({ service: 'audit', level: config.log.level, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const warehouse = await createWarehouse(config.warehouse, { dataDir: config.dataDir, logger: componentLogger(logger, 'warehouse') });
  try {
    if (opts.migrate) {
      await migrate(warehouse, { retention: config.warehouse.retention, dedupWindow: config.warehouse.dedupWindow, cluster: config.warehouse.cluster, logger: componentLogger(logger, 'migrate') });
    }
    const hasher = config.telemetry ? createHasher({ key: config.telemetry.hashing.key, keyId: config.telemetry.hashing.keyId }) : undefined;
    const service = createAuditService({
      warehouse, audit: config.audit, retention: config.warehouse.retention, hasher, logger: componentLogger(logger, 'service'),
      ...(opts.now ? { now: opts.now } : {}),
    });
    return { config, warehouse, service, logger, close: () => warehouse.close() };
  } catch (err) {
    await warehouse.close();
    throw err;
  }
}

/** A running audit API. */
export interface AuditServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly runtime: AuditRuntime;
  /** Stops listening (in-flight requests finish), then closes the warehouse; true when both stopped in time. */
  stop(): Promise<boolean>;
}

/** Opens the runtime with migrations and starts the HTTP API on `audit.host:audit.port`. */
export async function runAuditServer(opts: Omit<OpenAuditOptions, 'migrate'>): Promise<AuditServer> {
  const runtime = await openAudit({ ...opts, migrate: true });
  const { config, logger } = runtime;
  const parts = new Lifecycle(logger);
  parts.started('warehouse', () => runtime.close());
  if (config.audit.tokens.length === 0) logger.warn('audit.tokens is empty: the audit API will refuse every call');
  const app = createAuditApp({ service: runtime.service, tokens: config.audit.tokens, logger: componentLogger(logger, 'http') });
  try {
    await app.listen({ host: config.audit.host, port: config.audit.port });
  } catch (err) {
    await parts.stop();
    throw err;
  }
  parts.started('audit API', () => app.close());
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.audit.port;
  const url = `http://${config.audit.host.includes(':') ? `[${config.audit.host}]` : config.audit.host}:${port}`;
  logger.info({ url }, 'audit API listening');
  return { url, runtime, stop: () => parts.stop() };
}
