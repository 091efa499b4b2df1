/**
 * What the gateway's cluster primary and its workers tell each other over the node:cluster IPC
 * channel (`gateway.workers` > 1; docs/gateway.md, "Workers"), and the environment a worker is
 * forked with. Plain JSON objects, each with a `type` in the `mlgate:` name space so they never
 * mix with other libraries' messages on the same channel.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** Environment variables a worker is forked with (read through the CLI's env snapshot). */
export const WORKER_ENV = {
  /** 1-based worker slot: stable across restarts of that slot (per-worker spill directory). */
  index: 'MLGATE_GATEWAY_WORKER',
  /** The primary's pid: the default gateway id of every worker (`<hostname>-<pid>`). */
  primaryPid: 'MLGATE_GATEWAY_PRIMARY_PID',
} as const;

/** One worker's place in the cluster. */
export interface WorkerSlot {
  /** 1-based; worker 1 serves the admin API. */
  readonly index: number;
  /** The primary's pid. */
  readonly primaryPid: number;
}

/** The worker slot the environment names, or undefined outside a gateway worker. */
export function workerSlotOf(env: Readonly<Record<string, string | undefined>>): WorkerSlot | undefined {
  const index = Number(env[WORKER_ENV.index]);
  const primaryPid = Number(env[WORKER_ENV.primaryPid]);
  if (!Number.isInteger(index) || index < 1 || !Number.isInteger(primaryPid) || primaryPid < 1) return undefined;
  return { index, primaryPid };
}

/** A worker's registry as `getMetricsAsJSON()` gives it. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Worker to primary. */
export type WorkerMessage =
  | { type: 'mlgate:ready'; url: string; adminUrl: string }
  /** Worker 1's GET /metrics asks for the aggregate over all workers. */
  | { type: 'mlgate:aggregate?'; id: number }
  /** A worker's own metrics, answering {@link PrimaryMessage} `mlgate:metrics?`. */
  | { type: 'mlgate:metrics'; id: number; metrics: MetricsJson }
  /** Worker 1 is reloading the config file (POST /admin/reload): the others reload too. */
  | { type: 'mlgate:reloading' };

/** Primary to worker. */
export type PrimaryMessage =
  | { type: 'mlgate:metrics?'; id: number }
  | { type: 'mlgate:aggregate'; id: number; text?: string; error?: string }
  | { type: 'mlgate:reload' }
  | { type: 'mlgate:stop' };

/** True for a message of this protocol. */
export function isClusterMessage(m: unknown): m is { type: string } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('mlgate:');
}
