/**
 * `mlgate demo` (and `npm run demo`): the whole system catching a bad model version, live.
 * See demo/run.ts for the scenario and docs/demo.md for what to look at.
 * Exit code 0 when v2 was rolled back and v3 promoted, 1 otherwise, 2 for bad arguments.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { EnvSnapshot } from '../../core/env.ts';
import { watchSignals } from '../../core/lifecycle.ts';
import { silentLogger } from '../../core/log.ts';
import { runDemo } from '../../../demo/run.ts';
import { demoSummary } from '../../../demo/summary.ts';
import { HELP_OPTION, parseCommand, UsageError, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'demo',
  usage: '[--fast] [--data-dir DIR] [--any-ports] [--stay] [--plain]',
  description: `Starts every mlgate service in this process with three real sentiment models (v1 AFINN stable,
v2 VADER with injected errors and latency, v3 VADER healthy) and a load of review and chat texts,
then rolls out v2 (rolled back) and v3 (promoted) while a live view shows each step. Embedded
mode: needs the embedded ClickHouse engine (Linux x64). Exit code 0 when v2 was rolled back and
v3 promoted, 1 otherwise.`,
  options: [
    ['--fast', 'short steps (about 1.5 minutes instead of about 4)'],
    ['--data-dir DIR', 'base data directory (default $MLGATE_DATA_DIR, else ./data); the demo empties and uses DIR/demo'],
    ['--any-ports', 'listen on free ports (default 8080, 8081, 9465, 9466, 9467 and 8790)'],
    ['--stay', 'keep everything running after the demo (rollout page, audit API) until Ctrl-C'],
    ['--plain', 'print plain lines instead of redrawing the view in place'],
    HELP_OPTION,
  ],
  examples: ['mlgate demo --fast --any-ports'],
};

/**
 * Creates the data directory and checks it is writable before anything starts, so a bad
 * --data-dir is one line naming the path, not a failure halfway through the start.
 * @throws UsageError naming the path and the reason.
 */
function checkDataDir(dir: string): void {
  try {
    // One level at a time: mkdirSync({ recursive: true }) never returns on some paths where
    // mkdir fails with ENOENT under an existing parent (/proc/x on Linux, Node 20).
    const missing: string[] = [];
    let cur = resolve(dir);
    while (!existsSync(cur)) {
      missing.unshift(cur);
      const up = dirname(cur);
      if (up === cur) break;
      cur = up;
    }
    for (const d of missing) mkdirSync(d);
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOTDIR' ? 'the path or a folder above it is a file' : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.code === 'EROFS' ? 'read-only file system' : e.message;
    throw new UsageError(`--data-dir ${dir}: cannot create or write the directory (${why})`);
  }
}

/** Runs the demo; resolves with the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ fast?: boolean; 'data-dir'?: string; 'any-ports'?: boolean; stay?: boolean; plain?: boolean }>(HELP, argv, {
    fast: { type: 'boolean' }, 'data-dir': { type: 'string' }, 'any-ports': { type: 'boolean' }, stay: { type: 'boolean' }, plain: { type: 'boolean' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const dataDir = values['data-dir'] ?? env.MLGATE_DATA_DIR ?? './data';
  checkDataDir(dataDir);
  const abort = new AbortController();
  // Under `npm run demo` a Ctrl-C arrives twice (the terminal's and npm's copy): one request; a
  // later second signal exits at once (core/lifecycle.ts).
  const watch = watchSignals({
    logger: silentLogger(), repeatGraceMs: 1000,
    onFirst: () => { console.log('\nstopping the demo…'); abort.abort(); },
  });
  console.log(`mlgate demo${values.fast ? ' --fast' : ''}: starting the stack and three model versions…`);
  try {
    const result = await runDemo({
      fast: values.fast === true, dataDir, anyPorts: values['any-ports'] === true,
      out: process.stdout, env, signal: abort.signal, stay: values.stay === true,
      ...(values.plain ? { tty: false } : {}),
      onStarted: (rt) => console.log(`gateway ${rt.urls.gateway}   rollout page ${rt.urls.rolloutPage || '(off)'}   logs in ${rt.config.dataDir}/mlgate.log\n`),
    });
    console.log(demoSummary(result, { stayed: values.stay === true }).join('\n'));
    if (values.stay) {
      await new Promise<void>((resolve) => {
        if (abort.signal.aborted) resolve();
        else abort.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await result.stop();
    }
    return result.ok ? 0 : 1;
  } finally {
    watch.dispose();
  }
}
