/**
 * The ingester service, wired: reads the `dataDir`, `log`, `kafka`, `warehouse`, `ingester`
 * (and, for the local log's folder, `telemetry.localLog.dir`; for erasures by consumer,
 * `telemetry.hashing`) config sections, runs the
 * migrations, picks the source (Kafka when `kafka.brokers` is set, else the local log), serves
 * /metrics and /healthz, and stops gracefully when asked.
 */
import { createServer, type Server } from 'node:http';
import { isAbsolute, join } from 'node:path';
import { once } from 'node:events';
import { Registry } from 'prom-client';
import { collectNodeMetrics } from '../core/node-metrics.ts';
import { z } from 'zod';
import { KafkaSection, LogSection, loadConfig } from '../core/config.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { Lifecycle, runUntilSignal } from '../core/lifecycle.ts';
import { componentLogger, createLogger, type Logger } from '../core/log.ts';
import type { DestinationStream } from 'pino';
import { DEFAULT_MAX_AGE_HOURS, HashingSection, MaxAgeHours } from '../telemetry/config.ts';
import { createHasher } from '../telemetry/hash.ts';
import { WarehouseSection } from '../warehouse/config.ts';
import { createWarehouse, type Warehouse } from '../warehouse/warehouse.ts';
import { migrate } from '../warehouse/migrate.ts';
import { IngesterSection } from './config.ts';
import { startIngester, type Ingester } from './ingester.ts';
import { KafkaSource } from './kafka-source.ts';
import { LocalLogSource } from './local-source.ts';
import type { Source } from './source.ts';

/** The sections the ingester reads from the shared config file. */
export const IngesterServiceConfig = z.object({
  dataDir: z.string().min(1).default('data'),
  log: LogSection.prefault({}),
  kafka: KafkaSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
  ingester: IngesterSection.prefault({}),
  /**
   * Only `telemetry.localLog.dir` (the gateway's log folder, if moved), `telemetry.localLog.maxAgeHours`
   * (the dead letters' age bound too) and `telemetry.hashing` (the gateways' key: erasures by consumer
   * are matched at ingest by its keyed hash) are read here.
   */
  telemetry: z.looseObject({
    localLog: z.looseObject({ dir: z.string().optional(), maxAgeHours: MaxAgeHours.optional() }).optional(), hashing: HashingSection.optional(),
  }).optional(),
});

/** Parsed ingester service config. */
export type IngesterServiceConfigT = z.output<typeof IngesterServiceConfig>;

/** A running ingester service. */
export interface IngesterService {
  /** Port of the /metrics and /healthz server. */
  readonly port: number;
  readonly ingester: Ingester;
  readonly warehouse: Warehouse;
  /** Graceful stop: batch, commit, leave the group, close; true when each part stopped in time. */
  stop(): Promise<boolean>;
}

function resolveDir(dataDir: string, dir: string | undefined, fallback: string): string {
  if (dir && isAbsolute(dir)) return dir;
  return join(dataDir, dir || fallback);
}

/** Builds the source the configuration asks for. */
export function createSource(cfg: IngesterServiceConfigT, logger: Logger): Source {
  const ing = cfg.ingester;
  const kind = ing.source === 'auto' ? (cfg.kafka.brokers?.length ? 'kafka' : 'local') : ing.source;
  if (kind === 'kafka') {
    return new KafkaSource({
      brokers: cfg.kafka.brokers ?? [], clientId: `${cfg.kafka.clientId}-ingester`, groupId: ing.groupId, topic: ing.topic,
      dlqTopic: ing.dlqTopic, fromBeginning: ing.fromBeginning, maxBytes: ing.batch.maxBytes, minBytes: ing.batch.minBytes,
      lingerMs: ing.batch.lingerMs, connectionTimeoutMs: cfg.kafka.connectionTimeoutMs, requestTimeoutMs: cfg.kafka.requestTimeoutMs,
      sessionTimeoutMs: ing.sessionTimeoutMs,
      logger: componentLogger(logger, 'kafka-source'),
    });
  }
  const dir = resolveDir(cfg.dataDir, ing.localLog.dir || cfg.telemetry?.localLog?.dir, 'telemetry-log');
  return new LocalLogSource({
    dir, reader: ing.localLog.reader, dlqDir: join(dir, '..', 'telemetry-dlq'), maxRows: ing.batch.maxRows,
    lingerMs: ing.batch.lingerMs, pollMs: ing.localLog.pollMs, logger: componentLogger(logger, 'local-source'),
    dlqMaxAgeMs: (cfg.telemetry?.localLog?.maxAgeHours ?? DEFAULT_MAX_AGE_HOURS) * 3_600_000,
  });
}

function serveHttp(registry: Registry, ingester: Ingester, wh: Warehouse): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => { res.writeHead(200, { 'content-type': registry.contentType }); res.end(text); },
        () => { res.writeHead(500); res.end(); },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      const s = ingester.stats();
      const status = s.failed ? 'failed' : s.stopping ? 'stopping' : s.paused ? 'paused' : 'ok';
      res.writeHead(status === 'ok' || status === 'paused' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status, engine: wh.engine, rows: s.rows, batches: s.batches, deadLetters: s.deadLetters, replays: s.replays }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'try /metrics or /healthz' } }));
  });
}

/** Starts the service from a parsed config. */
export async function startIngesterService(cfg: IngesterServiceConfigT, logger: Logger): Promise<IngesterService> {
  const log = componentLogger(logger, 'ingester');
  const parts = new Lifecycle(log);
  try {
    const warehouse = await createWarehouse(cfg.warehouse, { logger: componentLogger(logger, 'warehouse'), dataDir: cfg.dataDir });
    parts.started('warehouse', () => warehouse.close());
    const result = await migrate(warehouse, { retention: cfg.warehouse.retention, dedupWindow: cfg.warehouse.dedupWindow, cluster: cfg.warehouse.cluster, logger: log });
    log.info({ applied: result.applied.length, engine: warehouse.engine, database: warehouse.database }, 'schema up to date');
    const source = createSource(cfg, logger);
    let ingester: Ingester | undefined;
    // Once the ingester runs, its stop stops the source (after the last commit).
    parts.started('source', async () => { if (!ingester) await source.stop(); });
    const serverSlot = parts.slot('metrics server');
    const registry = new Registry();
    collectNodeMetrics(registry); // promtool-clean (no *_total gauges)
    const hashing = cfg.telemetry?.hashing;
    if (!hashing && cfg.ingester.applyErasures) log.warn('no telemetry.hashing key (MLGATE_HASH_KEY): erasures by consumer are not applied to events still in flight');
    const hasher = hashing ? createHasher(hashing) : undefined;
    const running = ingester = await startIngester({ config: cfg.ingester, warehouse, source, registry, logger: log, hasher });
    parts.started('ingester', () => running.stop());
    const server = serveHttp(registry, running, warehouse);
    serverSlot(async () => { server.close(); });
    server.listen(cfg.ingester.http.port, cfg.ingester.http.host);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    log.info({ port, source: source.kind }, 'ingester listening');
    return { port, ingester: running, warehouse, stop: () => parts.stop() };
  } catch (err) {
    await parts.stop();
    throw err;
  }
}

/**
 * `mlgate ingester`: loads the config, starts, and runs until SIGTERM/SIGINT (graceful stop, exit
 * 0) or a fatal source error (exit 1).
 */
export async function runIngesterCommand(configFile: string | undefined, env: EnvSnapshot, destination?: DestinationStream): Promise<number> {
  const cfg = loadConfig(IngesterServiceConfig, configFile, env);
  const logger = createLogger({ service: 'ingester', level: cfg.log.level, ...(destination ? { destination } : {}) });
  const svc = await startIngesterService(cfg, logger);
  return runUntilSignal({ logger, lifecycle: svc, failure: svc.ingester.failure });
}
