/**
 * The primary of a gateway cluster (`gateway.workers` > 1, docs/gateway.md "Workers"): it serves
 * no request itself. It forks one worker per slot (each a whole gateway process on the same
 * port, through node:cluster), restarts a worker that dies (backoff 100 ms doubling to 5 s),
 * gives up with MLG_GW_WORKER_START_FAILED when a slot's worker dies before it is ready
 * {@link MAX_START_FAILURES} times in a row, aggregates the workers' metrics for worker 1's
 * GET /metrics, relays a reload to every worker, and on stop asks each worker to drain and waits
 * for all of them.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { isClusterMessage, WORKER_ENV, type MetricsJson, type PrimaryMessage, type WorkerMessage } from './cluster-messages.ts';
import { GatewayErrors } from './errors.ts';

/** Deaths before ready in a row, per slot, after which the primary gives up. */
export const MAX_START_FAILURES = 5;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** A worker that ran this long before dying restarts after the first backoff again. */
const STABLE_AFTER_MS = 30_000;
/** How long a scrape waits for each worker's metrics (a worker that does not answer is left out). */
const SCRAPE_TIMEOUT_MS = 3_000;

/** Options of {@link startGatewayPrimary}. */
export interface GatewayPrimaryOptions {
  workers: number;
  logger: Logger;
  /** How long workers may take to stop before they are killed (the gateway's drain deadline plus the sink's flush). */
  stopDeadlineMs: number;
}

/** A running cluster primary. */
export interface GatewayPrimary {
  /** Resolves with the first worker's URLs once every worker is ready; rejects with MLG_GW_WORKER_START_FAILED. */
  readonly ready: Promise<{ url: string; adminUrl: string }>;
  /** Rejects (MLG_GW_WORKER_START_FAILED) if workers keep dying at start after the cluster was ready. */
  readonly failure: Promise<never>;
  /** Asks every worker to stop gracefully and waits for them; true when all exited with 0. Idempotent. */
  stop(): Promise<boolean>;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  readyAt: number;
  startFailures: number;
  restarts: number;
  timer: NodeJS.Timeout | undefined;
}

/** Forks the workers and keeps them running until {@link GatewayPrimary.stop}. */
export function startGatewayPrimary(opts: GatewayPrimaryOptions): GatewayPrimary {
  const { logger } = opts;
  const slots: Slot[] = Array.from({ length: opts.workers }, (_, i) => ({ index: i + 1, worker: undefined, ready: false, readyAt: 0, startFailures: 0, restarts: 0, timer: undefined }));
  let stopping: Promise<boolean> | undefined;
  let firstUrls: { url: string; adminUrl: string } | undefined;
  let resolveReady!: (u: { url: string; adminUrl: string }) => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<{ url: string; adminUrl: string }>((res, rej) => { resolveReady = res; rejectReady = rej; });
  let rejectFailure!: (err: Error) => void;
  const failure = new Promise<never>((_res, rej) => { rejectFailure = rej; });
  ready.catch(() => {});
  failure.catch(() => {});
  const scrapes = new Map<number, { pending: Set<number>; got: MetricsJson[]; done: () => void }>();
  let scrapeIds = 0;

  const send = (w: Worker | undefined, m: PrimaryMessage) => { if (w?.isConnected()) w.send(m); };

  const aggregate = async (): Promise<string> => {
    const id = ++scrapeIds;
    const targets = slots.filter((s) => s.ready && s.worker?.isConnected());
    const got: MetricsJson[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { logger.warn({ missing: [...pending] }, 'workers did not send their metrics in time; the aggregate leaves them out'); finish(); }, SCRAPE_TIMEOUT_MS);
      const finish = () => { clearTimeout(timer); scrapes.delete(id); resolve(); };
      const pending = new Set(targets.map((s) => s.index));
      scrapes.set(id, { pending, got, done: finish });
      if (!pending.size) finish();
      for (const s of targets) send(s.worker, { type: 'mlgate:metrics?', id });
    });
    return AggregatorRegistry.aggregate(got).metrics();
  };

  const onMessage = (slot: Slot, w: Worker, m: WorkerMessage) => {
    if (m.type === 'mlgate:ready') {
      slot.ready = true;
      slot.readyAt = Date.now();
      slot.startFailures = 0;
      logger.info({ worker: slot.index, pid: w.process.pid }, 'gateway worker ready');
      firstUrls ??= { url: m.url, adminUrl: m.adminUrl };
      if (m.adminUrl) firstUrls = { url: m.url, adminUrl: m.adminUrl };
      if (slots.every((s) => s.ready)) resolveReady(firstUrls);
    } else if (m.type === 'mlgate:metrics') {
      const scrape = scrapes.get(m.id);
      if (scrape?.pending.delete(slot.index)) {
        scrape.got.push(m.metrics);
        if (!scrape.pending.size) scrape.done();
      }
    } else if (m.type === 'mlgate:aggregate?') {
      aggregate().then(
        (text) => send(w, { type: 'mlgate:aggregate', id: m.id, text }),
        (err: unknown) => send(w, { type: 'mlgate:aggregate', id: m.id, error: (err as Error).message }),
      );
    } else if (m.type === 'mlgate:reloading') {
      for (const s of slots) if (s !== slot) send(s.worker, { type: 'mlgate:reload' });
    }
  };

  const giveUp = (slot: Slot, how: string) => {
    const err = GatewayErrors.workerStartFailed(`gateway worker ${slot.index} died before it was ready ${slot.startFailures} times in a row (last: ${how}); see its log above`);
    logger.error({ err, worker: slot.index }, 'giving up on the gateway workers');
    rejectReady(err);
    rejectFailure(err);
  };

  const fork = (slot: Slot) => {
    slot.timer = undefined;
    slot.ready = false;
    const w = cluster.fork({ [WORKER_ENV.index]: String(slot.index), [WORKER_ENV.primaryPid]: String(process.pid) });
    slot.worker = w;
    w.on('message', (m: unknown) => { if (isClusterMessage(m)) onMessage(slot, w, m as WorkerMessage); });
    w.on('exit', (code, signal) => {
      if (slot.worker === w) slot.worker = undefined;
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (!slot.ready) {
        slot.startFailures++;
        if (slot.startFailures >= MAX_START_FAILURES) { giveUp(slot, how); return; }
      } else if (Date.now() - slot.readyAt > STABLE_AFTER_MS) {
        slot.restarts = 0;
      }
      const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** slot.restarts++);
      slot.ready = false;
      logger.warn({ worker: slot.index, pid: w.process.pid, how, restart_in_ms: delay }, 'gateway worker died; restarting it');
      slot.timer = setTimeout(() => fork(slot), delay);
    });
  };

  for (const s of slots) fork(s);

  const stop = async (): Promise<boolean> => {
    const exits: Promise<boolean>[] = [];
    for (const s of slots) {
      clearTimeout(s.timer);
      const w = s.worker;
      if (!w || w.isDead()) continue;
      exits.push(new Promise<boolean>((resolve) => {
        const kill = setTimeout(() => {
          logger.error({ worker: s.index, pid: w.process.pid, deadline_ms: opts.stopDeadlineMs }, 'gateway worker did not stop in time; killing it');
          w.process.kill('SIGKILL');
        }, opts.stopDeadlineMs);
        w.once('exit', (code, signal) => { clearTimeout(kill); resolve(code === 0 && !signal); });
      }));
      send(w, { type: 'mlgate:stop' });
    }
    const clean = (await Promise.all(exits)).every(Boolean);
    logger.info({ clean }, 'gateway workers stopped');
    return clean;
  };

  return { ready, failure, stop: () => (stopping ??= stop()) };
}
