/** Runs the `mlgate` command (bin/mlgate.mjs, as a user would) in a child process. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/mlgate.mjs');

export interface CliResult { code: number; stdout: string; stderr: string }

/**
 * Runs `mlgate ...args` with a clean environment (no MLGATE_* from the caller) plus `env`;
 * `nodeArgs` go before the script (e.g. `--require` a hook). Resolves with the exit code and output.
 */
export function mlgate(args: string[], opts: { env?: Record<string, string>; stdin?: string; nodeArgs?: string[]; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MLGATE_') && !['KAFKA_BROKERS', 'CLICKHOUSE_URL'].includes(k)));
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      env: { ...clean, ...opts.env }, cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 300_000, killSignal: 'SIGKILL',
    }, (err, stdout, stderr) => {
      // A child killed by the timeout has no exit code: -1, with the reason on stderr.
      const killed = err && typeof err.code !== 'number';
      resolve({ code: err ? (killed ? -1 : (err.code as number)) : 0, stdout, stderr: killed ? `${stderr}\n[killed: ${err.message}]` : stderr });
    });
    child.stdin!.end(opts.stdin ?? '');
  });
}

/**
 * Runs `jobs` at most `limit` at a time, results in order: each child is a whole Node process
 * with tsx, and the machine running the tests may have few cores.
 */
export async function pooled<T>(jobs: ReadonlyArray<() => Promise<T>>, limit = 2): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return out;
}

/** True when the output holds a JavaScript stack trace. */
export function hasStack(text: string): boolean {
  return /^\s+at .+[(:]\d+/m.test(text);
}
