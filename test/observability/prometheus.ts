/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for a test: configured from
 * deploy/prometheus.yml with its targets pointed at the services the test runs, a 1 s scrape and
 * evaluation interval, the rules of alerts/, on 127.0.0.1 and a free port; plus a small client
 * for its HTTP API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { waitUntil } from '../support/infra.ts';
import { ROOT } from './support.ts';

/** A free TCP port on 127.0.0.1 (listen on 0, close, reuse the number). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One series of an instant query. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** A running Prometheus. */
export interface TestPrometheus {
  readonly url: string;
  /** Jobs of deploy/prometheus.yml that were dropped because the test runs no such service. */
  readonly droppedJobs: string[];
  /** Instant query; rejects on an HTTP or PromQL error (a parse error among them). */
  query(expr: string): Promise<Sample[]>;
  /** Every series of a metric name since the start. */
  series(name: string): Promise<Array<Record<string, string>>>;
  /** Whether a scraped target declared the metric family (HELP/TYPE), samples or not. */
  hasMetadata(family: string): Promise<boolean>;
  /** The last lines of Prometheus's log. */
  logTail(): string;
}

interface ScrapeConfig { job_name: string; static_configs?: Array<{ targets: string[] }>; [k: string]: unknown }

/**
 * Starts Prometheus with deploy/prometheus.yml's jobs: each job in `targets` scrapes the given
 * host:port; other mlgate jobs are dropped (reported in `droppedJobs`). `defer` receives its stop.
 */
export async function startPrometheus(defer: (fn: () => Promise<void>) => void, binary: string, targets: Record<string, string>): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-prom-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const cfg = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus.yml'), 'utf8')) as {
    global: Record<string, unknown>; rule_files: string[]; scrape_configs: ScrapeConfig[];
  };
  cfg.global.scrape_interval = '1s';
  cfg.global.scrape_timeout = '1s';
  cfg.global.evaluation_interval = '1s';
  cfg.rule_files = [join(ROOT, 'alerts/*.rules.yml')];
  const droppedJobs: string[] = [];
  cfg.scrape_configs = cfg.scrape_configs.filter((sc) => {
    if (sc.job_name === 'prometheus') {
      sc.static_configs = [{ targets: [address] }];
      return true;
    }
    const target = targets[sc.job_name];
    if (!target) {
      droppedJobs.push(sc.job_name);
      return false;
    }
    sc.static_configs = [{ targets: [target] }];
    return true;
  });
  for (const job of Object.keys(targets)) {
    if (!cfg.scrape_configs.some((sc) => sc.job_name === job)) throw new Error(`deploy/prometheus.yml has no job ${job}`);
  }
  writeFileSync(join(dir, 'prometheus.yml'), stringifyYaml(cfg));
  const logFile = join(dir, 'prometheus.log');
  const log = openSync(logFile, 'w');
  const child: ChildProcess = spawn(binary, [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${address}`,
    '--storage.tsdb.retention.time=1h', '--log.level=warn',
  ], { stdio: ['ignore', log, log] });
  let exited = false;
  child.once('exit', () => { exited = true; });
  defer(async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await waitUntil('prometheus to exit', () => exited, 20_000).catch(() => child.kill('SIGKILL'));
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://${address}`;
  const logTail = () => {
    try { return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n'); } catch { return ''; }
  };
  await waitUntil('prometheus to be ready', async () => {
    if (exited) throw new Error(`prometheus exited:\n${logTail()}`);
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  }, 30_000, 200);
  const started = Math.floor(Date.now() / 1000) - 60;

  async function api<T>(path: string, params: Record<string, string>): Promise<T> {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (!res.ok || body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${res.status} ${body.errorType}: ${body.error}`);
    return body.data;
  }
  return {
    url, droppedJobs, logTail,
    query: async (expr) => (await api<{ resultType: string; result: Sample[] }>('query', { query: expr })).result,
    series: (name) => api<Array<Record<string, string>>>('series', { 'match[]': `{__name__=${JSON.stringify(name)}}`, start: String(started) }),
    hasMetadata: async (family) => Object.keys(await api<Record<string, unknown>>('metadata', { metric: family })).length > 0,
  };
}
