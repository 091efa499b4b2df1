/**
 * The config of `mlgate start` (embedded mode): every service's section of the shared config file
 * in one schema, plus the `embedded` section (model servers started in the process, the rollout
 * page's listener, the in-process audit API). Defaults live in each section's schema; the sample
 * file config/mlgate.yaml sets what a newcomer needs (stand-in models, a demo hashing key, tokens).
 *
 * Switching to the distributed transports is configuration, as everywhere: with `KAFKA_BROKERS`
 * set, the same process uses the Kafka sink, a Kafka ingester source and the Kafka control topic;
 * with `CLICKHOUSE_URL`, a ClickHouse server instead of the embedded engine.
 */
import { z } from 'zod';
import { KafkaSection, LogSection, loadConfig, parseConfig } from '../core/config.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { AuditSection } from '../audit/config.ts';
import { ControllerSection } from '../controller/service/config.ts';
import { ModelServerSchema } from './stand-in/model-server.ts';
import { GatewaySection } from '../gateway/config.ts';
import { IngesterSection } from '../ingester/config.ts';
import { TelemetrySection } from '../telemetry/config.ts';
import { WarehouseSection } from '../warehouse/config.ts';

/** Schema of the `embedded` section. */
export const EmbeddedSection = z.strictObject({
  /** Model servers started in this process before the gateway (stand-ins, or the demo's models). */
  modelServers: z.array(ModelServerSchema).default([]),
  /** The rollout page's own listener (GET /ui/). */
  ui: z.strictObject({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(9467),
  }).prefault({}),
  /** Serve the audit HTTP API in this process on audit.host:audit.port (needs audit.tokens). */
  auditApi: z.boolean().default(true),
  /**
   * Keep the latest routing state per model in `<dataDir>/control/routing-states.json`, so a
   * restarted `mlgate start` routes as the controller and admins last decided (in-process control
   * channel only; Kafka's compacted topic does this in the distributed mode).
   */
  persistRouting: z.boolean().default(true),
  /**
   * At a graceful stop, how long the ingester may keep storing what the gateway's telemetry left
   * (the local log, or the topic) before it stops; whatever is left is stored on the next start.
   */
  stopDrainMs: z.number().int().min(0).max(600_000).default(10_000),
});

/** Parsed `embedded` section. */
export type EmbeddedSectionT = z.output<typeof EmbeddedSection>;

/** Every section `mlgate start` reads. */
export const EmbeddedProcessConfig = z.object({
  dataDir: z.string().min(1).default('./data'),
  log: LogSection.prefault({}),
  kafka: KafkaSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
  telemetry: TelemetrySection,
  gateway: GatewaySection,
  ingester: IngesterSection.prefault({}),
  controller: ControllerSection.prefault({}),
  audit: AuditSection.prefault({}),
  embedded: EmbeddedSection.prefault({}),
}).superRefine((c, ctx) => {
  if (c.gateway.workers !== 1) {
    ctx.addIssue({ code: 'custom', path: ['gateway', 'workers'], message: 'mlgate start runs one gateway process: set workers to 1 (several workers need mlgate gateway with Kafka)' });
  }
});

/** Parsed embedded process config. */
export type EmbeddedConfig = z.output<typeof EmbeddedProcessConfig>;
/** What a config file (or a test) writes. */
export type EmbeddedConfigInput = z.input<typeof EmbeddedProcessConfig>;

/** Reads the file, applies the environment, validates. @throws MLG_CORE_CONFIG_INVALID naming the field. */
export function loadEmbeddedConfig(file: string | undefined, env: EnvSnapshot): EmbeddedConfig {
  return loadConfig(EmbeddedProcessConfig, file, env);
}

/** Validates a config object (tests, the demo). @throws MLG_CORE_CONFIG_INVALID naming the field. */
export function parseEmbeddedConfig(raw: unknown, source = 'embedded config'): EmbeddedConfig {
  return parseConfig(EmbeddedProcessConfig, raw, source);
}
