/** Runs `mlgate ingester --config FILE` as a child process, as an operator would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { waitUntil } from '../support/infra.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A running child ingester. */
export interface ChildIngester {
  readonly proc: ChildProcess;
  /** Port of its /metrics and /healthz server. */
  readonly port: number;
  /** Resolves with how it ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Its Prometheus text. */
  metrics(): Promise<string>;
  /** Log lines seen so far (for failure messages). */
  readonly lines: string[];
}

/** Writes `config` as YAML to `file`. */
export function writeConfig(file: string, config: Record<string, unknown>): void {
  writeFileSync(file, stringify(config));
}

/**
 * Starts the child and waits until it serves metrics. With `killAtCommit`, the child kills
 * itself (SIGKILL) just before its Nth offset commit (test/ingester/fault-preload.ts).
 */
export async function spawnIngester(configFile: string, opts: { killAtCommit?: number; timeoutMs?: number } = {}): Promise<ChildIngester> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !k.startsWith('CLICKHOUSE_') && !k.startsWith('MLGATE_CFG__') && k !== 'KAFKA_BROKERS' && k !== 'MLGATE_DATA_DIR'));
  const args = ['--import', 'tsx'];
  if (opts.killAtCommit) {
    env.MLGATE_TEST_KILL_AT_COMMIT = String(opts.killAtCommit);
    args.push('--import', './test/ingester/fault-preload.ts');
  }
  const proc = spawn(process.execPath, [...args, 'services/cli/main.ts', 'ingester', '--config', configFile], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let port = 0;
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 200) lines.shift();
    if (!port && line.includes('ingester listening')) {
      try { port = (JSON.parse(line) as { port: number }).port; } catch { /* not JSON */ }
    }
  };
  createInterface({ input: proc.stdout! }).on('line', keep);
  createInterface({ input: proc.stderr! }).on('line', keep);
  const exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  let ended = false;
  void exited.then(() => { ended = true; });
  await waitUntil('the child ingester to listen', () => {
    if (ended) throw new Error(`child exited early:\n${lines.slice(-20).join('\n')}`);
    return port > 0;
  }, timeoutMs, 100).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw new Error(`${err.message}\n${lines.slice(-20).join('\n')}`);
  });
  return {
    proc, port, exited, lines,
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text(),
  };
}
