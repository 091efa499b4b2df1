/**
 * Runs `mlgate gateway --config FILE` as the CLI does (a child process; with `gateway.workers`
 * above 1 a node:cluster primary and its workers), with the real Kafka telemetry sink, and waits
 * for its `mlgate gateway ready` log line. The model and its versions mirror the `gateway` side
 * of bench/gateway/server.ts: two stand-in versions weighted 90/10, tracing at 1%.
 * Every process started here (the primary and the workers it logged) is killed when the
 * benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { treeCpuUs } from './proc-cpu.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'services/cli/main.ts');
const started: MlgateGateway[] = [];
process.on('exit', () => { for (const g of started) g.kill(); });

/** A running `mlgate gateway`. */
export interface MlgateGateway {
  url: string;
  child: ChildProcess;
  /** Pids of the workers that logged `gateway worker ready` (empty with workers: 1). */
  workerPids: number[];
  /** Log lines at warn level or above (pino level >= 40), message only. */
  warnings: string[];
  /** CPU time (µs) the gateway's processes (primary and workers) used so far. */
  cpu(): number;
  /** SIGTERM, wait up to 30 s for the exit (then SIGKILL), remove its data directory. */
  stop(): Promise<void>;
  /** SIGKILL the primary and every worker it logged. */
  kill(): void;
}

/** Options of {@link startMlgateGateway}. */
export interface MlgateGatewayOptions {
  workers: number;
  /** Stand-in upstreams of the two versions (90/10). */
  upstreams: [string, string];
  model: string;
  brokers: string[];
  topic: string;
  port: number;
  adminPort: number;
}

/** Starts `mlgate gateway` and resolves once it logged that it is ready. */
export async function startMlgateGateway(o: MlgateGatewayOptions): Promise<MlgateGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-bench-workers-'));
  const file = join(dir, 'mlgate.yaml');
  writeFileSync(file, stringify({
    gateway: {
      id: `bench-w${o.workers}`,
      workers: o.workers,
      port: o.port,
      admin: { port: o.adminPort, token: 'bench-admin-token-0123456789' },
      tracing: { sampleRatio: 0.01 },
      models: {
        [o.model]: {
          versions: { stable: { targets: [o.upstreams[0]] }, canary: { targets: [o.upstreams[1]] } },
          weights: { stable: 90, canary: 10 }, fallback: 'stable',
          prediction: { label: 'label', score: 'score' },
        },
      },
    },
    telemetry: { topic: o.topic, partitions: 2, hashing: { key: 'bench-hash-key-0123456789', keyId: 'k1' }, redaction: { maxChars: 2048 } },
    kafka: { brokers: o.brokers, clientId: `mlgate-bench-w${o.workers}` },
    dataDir: join(dir, 'data'),
    log: { level: 'info' },
  }));
  // The file alone configures it: no MLGATE_/KAFKA_/CLICKHOUSE_ overrides from this shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MLGATE_') && !k.startsWith('KAFKA_') && !k.startsWith('CLICKHOUSE_')));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'gateway', '--config', file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const workerPids: number[] = [];
  const warnings: string[] = [];
  let onReady!: (url: string) => void;
  const ready = new Promise<string>((resolve) => { onReady = resolve; });
  let buf = '';
  // Always drained: a full pipe would block the gateway's logging.
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let l: { msg?: string; pid?: number; url?: string; level?: number };
      try { l = JSON.parse(line) as typeof l; } catch { continue; }
      if (l.msg === 'gateway worker ready' && typeof l.pid === 'number') workerPids.push(l.pid);
      else if (l.msg === 'mlgate gateway ready' && l.url) onReady(l.url);
      if ((l.level ?? 0) >= 40 && warnings.length < 50) warnings.push(String(l.msg));
    }
  });
  const kill = () => {
    for (const pid of workerPids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    child.kill('SIGKILL');
  };
  const g: MlgateGateway = {
    url: '', child, workerPids, warnings,
    cpu: () => treeCpuUs(child.pid!),
    kill,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(kill, 30_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  started.push(g);
  const timeout = new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`mlgate gateway (workers: ${o.workers}) not ready within 120 s`)), 120_000).unref());
  const early = exited.then((code) => { throw new Error(`mlgate gateway (workers: ${o.workers}) exited with ${code} before it was ready`); });
  g.url = await Promise.race([ready, timeout, early]);
  return g;
}
