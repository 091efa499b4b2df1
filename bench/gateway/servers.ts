/**
 * Starting and stopping the benchmark's server processes (bench/gateway/server.ts), each in its
 * own process so each side has its own event loop. A server prints `{"url": ...}` (or `urls`,
 * and `key` for the edge side) when listening, and answers each line on its stdin with its CPU
 * time so far. Every process started here is killed when the benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The request every side is driven with: a JSON body with one e-mail address in it. */
export const BODY = JSON.stringify({ text: 'the service was great, thanks! write to me at jane.doe@example.com', lang: 'en' });
/** The route it is sent to (the gateway's model is `sentiment`). */
export const PATH = '/v1/models/sentiment/predict';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** A server child process. */
export interface Server {
  url?: string;
  key?: string;
  urls?: string[];
  child: ChildProcess;
  /** CPU time (µs) the process has used so far, all threads. */
  cpu(): Promise<number>;
}

/**
 * Starts `bench/gateway/server.ts kind args...` from the checkout at `root` (default: this one;
 * another checkout lets a benchmark compare two revisions side by side).
 */
export async function server(kind: string, args: string[] = [], root = ROOT): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/gateway/server.ts'), kind, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines: string[] = [];
  const waiting: Array<{ resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  let gone: Error | undefined;
  child.once('exit', (code) => {
    gone = new Error(`${kind} server exited with ${code}`);
    for (const w of waiting.splice(0)) w.reject(gone);
  });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w.resolve(l); else lines.push(l);
    }
  });
  const next = () => new Promise<string>((resolve, reject) => {
    const l = lines.shift();
    if (l !== undefined) return resolve(l);
    if (gone) return reject(gone);
    waiting.push({ resolve, reject });
  });
  const first = JSON.parse(await next()) as { url?: string; urls?: string[]; key?: string };
  return {
    ...first, child,
    cpu: async () => {
      child.stdin!.write('cpu\n');
      return (JSON.parse(await next()) as { cpuUs: number }).cpuUs;
    },
  };
}

/** Stops a server (SIGTERM) and waits for it to exit. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}
