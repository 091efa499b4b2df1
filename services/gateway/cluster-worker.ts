/**
 * One worker of a gateway cluster (`gateway.workers` > 1, docs/gateway.md "Workers"): a whole
 * gateway process (runGateway with its slot) that tells the primary when it is ready, answers the
 * primary's metrics requests with its own registry, asks the primary for the aggregate when
 * worker 1's admin port is scraped, follows relayed reloads, and stops gracefully on the
 * primary's stop message or on a signal of its own (Ctrl-C reaches the whole process group).
 */
import { Registry } from 'prom-client';
import type { EnvSnapshot } from '../core/env.ts';
import { runUntilSignal, watchSignals, type SignalWatch } from '../core/lifecycle.ts';
import { isClusterMessage, type PrimaryMessage, type WorkerMessage, type WorkerSlot } from './cluster-messages.ts';
import { runGateway } from './main.ts';

const AGGREGATE_TIMEOUT_MS = 10_000;

/** A registry whose text is the aggregate over every worker, computed by the primary. */
class ClusterRegistry extends Registry {
  private ids = 0;
  private readonly pending = new Map<number, (m: { text?: string; error?: string }) => void>();

  /** Settles a pending request with the primary's answer. */
  answer(m: { id: number; text?: string; error?: string }): void {
    this.pending.get(m.id)?.(m);
  }

  override async metrics(): Promise<string> {
    const id = ++this.ids;
    const m = await new Promise<{ text?: string; error?: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ error: 'the primary did not answer in time' }), AGGREGATE_TIMEOUT_MS);
      this.pending.set(id, (r) => { clearTimeout(timer); this.pending.delete(id); resolve(r); });
      tell({ type: 'mlgate:aggregate?', id });
    });
    if (m.error !== undefined) throw new Error(`cluster metrics: ${m.error}`);
    return m.text ?? '';
  }
}

function tell(m: WorkerMessage): void {
  if (process.connected) process.send?.(m);
}

/** Runs this process as worker `slot`; resolves with its exit code once it has stopped. */
export async function runGatewayWorker(opts: { configFile: string; env: EnvSnapshot; slot: WorkerSlot }): Promise<number> {
  const clusterMetrics = new ClusterRegistry();
  let stopAsked!: () => void;
  const stopMessage = new Promise<void>((resolve) => { stopAsked = resolve; });
  let proc: Awaited<ReturnType<typeof runGateway>> | undefined;
  const onMessage = (raw: unknown) => {
    if (!isClusterMessage(raw)) return;
    const m = raw as PrimaryMessage;
    if (m.type === 'mlgate:stop') stopAsked();
    else if (m.type === 'mlgate:aggregate') clusterMetrics.answer(m);
    else if (m.type === 'mlgate:metrics?' && proc) {
      proc.gateway.metrics.registry.getMetricsAsJSON().then((metrics) => tell({ type: 'mlgate:metrics', id: m.id, metrics }), () => {});
    } else if (m.type === 'mlgate:reload' && proc) {
      const p = proc;
      p.gateway.admin.reload('cluster', `relayed from worker 1 to worker ${opts.slot.index}`)
        .catch((err: unknown) => p.logger.error({ err }, 'relayed reload refused'));
    }
  };
  process.on('message', onMessage);
  try {
    proc = await runGateway({
      configFile: opts.configFile, env: opts.env, worker: opts.slot, adminMetrics: clusterMetrics,
      onReload: () => tell({ type: 'mlgate:reloading' }),
    });
    const { logger, gateway } = proc;
    const signals = watchSignals({ logger, repeatGraceMs: 2_000 });
    // The primary's stop message and a signal are one stop request.
    const watch: SignalWatch = {
      signalled: Promise.race([signals.signalled, stopMessage.then(() => 'SIGTERM' as const)]),
      get signal() { return signals.signal; },
      dispose: () => signals.dispose(),
    };
    tell({ type: 'mlgate:ready', url: gateway.url, adminUrl: gateway.adminUrl });
    return await runUntilSignal({ logger, lifecycle: proc }, watch);
  } finally {
    process.off('message', onMessage);
    // The IPC channel would keep the process alive after its parts stopped.
    if (process.connected) process.disconnect();
  }
}
