/**
 * The `controller:` config section (API listener and tokens, tick settings, topics, leadership,
 * the rollouts declared in the file, decision recording) and the controller process config: that
 * section composed with `kafka`, `warehouse`, `log` and `dataDir`. All defaults live here.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { KafkaSection, LogSection } from '../../core/config.ts';
import { WarehouseSection } from '../../warehouse/config.ts';

/** Roles of the controller API: `viewer` reads; `operator` also creates and operates rollouts. */
export const CONTROLLER_ROLES = ['viewer', 'operator'] as const;
/** One of {@link CONTROLLER_ROLES}. */
export type ControllerRole = (typeof CONTROLLER_ROLES)[number];

/** One API token. The name is the actor recorded with manual decisions; the token is never logged. */
export const ControllerTokenSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,100}$/, 'expected a name of letters, digits and ._@-'),
  token: z.string().min(24, 'a token must be at least 24 characters').max(512),
  role: z.enum(CONTROLLER_ROLES).default('operator'),
});

const TOPIC = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name');
/** Instance ids double as audit chain ids (`controller-<id>`), so they stay short and plain. */
const INSTANCE = z.string().regex(/^[A-Za-z0-9._-]{1,50}$/, 'expected 1-50 letters, digits, . _ -');

function defaultInstanceId(): string {
  return (hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 50) || 'controller');
}

/** Schema of the `controller` section. */
export const ControllerSection = z.strictObject({
  /** This controller's id: the actor of its automatic decisions' routing states and its audit chain (`controller-<id>`). Unique per controller. */
  instanceId: INSTANCE.default(defaultInstanceId),
  /** API listener; loopback unless it sits behind TLS. */
  host: z.string().min(1).default('127.0.0.1'),
  /** API and /metrics port (deploy/prometheus.yml scrapes 9466). */
  port: z.number().int().min(0).max(65535).default(9466),
  /** Bearer tokens. With none, every /v1 route answers 401 (metrics and health stay open). */
  tokens: z.array(ControllerTokenSchema).default([]),
  /**
   * The built-in rollout page (read-only, no token: rollouts, traffic per version, decisions) at
   * `<url>/ui/` on the API port. On by default; turn it off where rollout status must not be
   * readable without a token.
   */
  ui: z.boolean().default(true),
  /** How often the scheduler looks for rollouts whose tick is due, ms. */
  loopMs: z.number().int().min(10).max(60_000).default(500),
  /** Forces these tick settings on every rollout spec this controller parses (tests, demos). */
  tickOverride: z.strictObject({
    intervalS: z.number().min(1).max(3600).optional(),
    lagS: z.number().min(0).max(3600).optional(),
  }).optional(),
  /** Compacted topic of routing states (Kafka mode). */
  controlTopic: TOPIC.default('mlgate.control.v1'),
  leader: z.strictObject({
    /** `kafka`: a consumer group on a one-partition topic (needs kafka.brokers); `always`: this instance always leads (one controller, embedded mode). Default: kafka when brokers are set. */
    mode: z.enum(['kafka', 'always']).optional(),
    topic: TOPIC.default('mlgate.controller.leader.v1'),
    groupId: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'expected a consumer group id').default('mlgate-controller-leader'),
    /** A dead leader is replaced after about this long (Kafka's session timeout; the broker's minimum is 6 s). */
    sessionTimeoutMs: z.number().int().min(1000).max(300_000).default(6000),
  }).prefault({}),
  /** YAML file of rollout specs (a list, or `{ rollouts: [...] }`), created at start when their id is new. */
  rolloutsFile: z.string().min(1).optional(),
  /** Rollout specs inline (same format as the API's body); validated when the controller starts. */
  rollouts: z.array(z.record(z.string(), z.unknown())).default([]),
  decisions: z.strictObject({
    /**
     * 0 (default): every tick's decision is written to canary_decisions. N > 0: a `wait` is written
     * only when the last written decision of the rollout is at least N seconds old (every other
     * decision is always written; unwritten waits are not persisted either).
     */
    waitEveryS: z.number().min(0).max(86_400).default(0),
  }).prefault({}),
  /** Latency and score samples per arm and window are capped by each spec's analysis.sampleSize; this caps every spec. */
  maxSampleSize: z.number().int().min(50).max(100_000).default(10_000),
  /** A provider query slower than this fails the window (it is then covered by the next one). */
  queryTimeoutMs: z.number().int().min(100).max(600_000).default(20_000),
  /** How custom_sql metrics run: read-only, bounded (queryTimeoutMs is their max_execution_time); see docs/canary.md. */
  customSql: z.strictObject({
    /** `max_result_rows` of a custom query and of each of its subqueries; more fails the window. */
    maxResultRows: z.number().int().min(1).max(100_000_000).default(100_000),
    /** `max_memory_usage` of a custom query, bytes. */
    maxMemoryBytes: z.number().int().min(1_000_000).default(2 ** 30),
    /** Server only: a ClickHouse user with a readonly = 1 profile that custom queries run as (no settings are sent then). */
    username: z.string().min(1).optional(),
    /** That user's password. */
    password: z.string().default(''),
  }).prefault({}),
});

/** Parsed `controller` section. */
export type ControllerConfig = z.output<typeof ControllerSection>;

/** The sections the controller process reads from the shared config file. */
export const ControllerProcessConfig = z.object({
  dataDir: z.string().min(1).default('data'),
  log: LogSection.prefault({}),
  kafka: KafkaSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
  controller: ControllerSection.prefault({}),
});

/** Parsed controller process config. */
export type ControllerProcessConfigT = z.output<typeof ControllerProcessConfig>;
