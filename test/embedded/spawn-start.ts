/**
 * `mlgate start` as a child process, the way a user runs it (the `npm start` command line): free
 * ports through MLGATE_CFG__ overrides, data in a given folder, the banner read from stdout.
 * Used by start.test.ts and stop-after-broker-restart.int.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cleanup, until } from './util.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const SAMPLE = join(ROOT, 'config/mlgate.yaml');

export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface Started {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Printed URL of a banner line (`gateway`, `rollout page`, ...). */
  url: (label: string) => string;
  firstPredictionMs: number;
}

export async function start(t: import('node:test').TestContext, configFile: string, dataDir: string, extraEnv: Record<string, string> = {}): Promise<Started> {
  const env = {
    ...process.env, ...extraEnv, MLGATE_DATA_DIR: dataDir,
    MLGATE_CFG__gateway__port: '0', MLGATE_CFG__gateway__admin__port: '0', MLGATE_CFG__ingester__http__port: '0',
    MLGATE_CFG__controller__port: '0', MLGATE_CFG__embedded__ui__port: '0', MLGATE_CFG__audit__port: '0',
  };
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'start', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup(t, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const url = (label: string) => {
    const m = new RegExp(`^  ${label}\\s+(http://127\\.0\\.0\\.1:\\d+\\S*)`, 'm').exec(out);
    if (!m) throw new Error(`no ${label} URL in:\n${out}\n${err.slice(-2000)}`);
    return m[1]!;
  };
  await until('the banner', () => out.includes('Ctrl-C stops everything') || (child.exitCode !== null ? Promise.reject(new Error(`exited ${child.exitCode}: ${err.slice(-2000)}`)) : false), 60_000, 50);
  const gateway = url('gateway');
  await until('a prediction', async () => (await fetch(`${gateway}/v1/models/sentiment/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hello"}' })).status === 200, 30_000, 50);
  return { child, out: () => out, err: () => err, url, firstPredictionMs: Date.now() - t0 };
}

export async function stop(s: Started): Promise<number | null> {
  s.child.kill('SIGTERM');
  const [code] = await Promise.race([once(s.child, 'exit'), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no exit within 30 s')), 30_000).unref())]);
  return code as number | null;
}
