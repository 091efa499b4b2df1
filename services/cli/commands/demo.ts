/**
 * `mlgate demo` (and `npm run demo`): the whole system catching a bad model version, live.
 * See demo/run.ts for the scenario and docs/demo.md for what to look at.
 * Exit code 0 when v2 was rolled back and v3 promoted, 1 otherwise, 2 for bad arguments.
 */
import { parseArgs } from 'node:util';
import type { EnvSnapshot } from '../../core/env.ts';
import { runDemo } from '../../../demo/run.ts';
import { demoSummary } from '../../../demo/summary.ts';

const HELP = `usage: mlgate demo [--fast] [--data-dir DIR] [--any-ports] [--stay] [--plain]

Starts every mlgate service in this process with three real sentiment models (v1 AFINN stable,
v2 VADER with injected errors and latency, v3 VADER healthy) and a load of review and chat texts,
then rolls out v2 (rolled back) and v3 (promoted) while a live view shows each step.

  --fast        short steps (about 1.5 minutes instead of about 4)
  --data-dir    base data directory (default ./data); the demo empties and uses DIR/demo
  --any-ports   listen on free ports (default 8080, 8081, 9465, 9466, 9467 and 8790)
  --stay        keep everything running after the demo (rollout page, audit API) until Ctrl-C
  --plain       print plain lines instead of redrawing the view in place`;

/** Runs the demo; resolves with the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { fast?: boolean; 'data-dir'?: string; 'any-ports'?: boolean; stay?: boolean; plain?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv, strict: true,
      options: {
        fast: { type: 'boolean' }, 'data-dir': { type: 'string' }, 'any-ports': { type: 'boolean' }, stay: { type: 'boolean' },
        plain: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`mlgate demo: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const abort = new AbortController();
  let signalledAt = 0;
  const onSignal = () => {
    // Under `npm run demo` a Ctrl-C arrives twice (the terminal's and npm's copy): one request.
    if (signalledAt && Date.now() - signalledAt >= 1000) process.exit(1);
    if (signalledAt) return;
    signalledAt = Date.now();
    console.log('\nstopping the demo…');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  console.log(`mlgate demo${values.fast ? ' --fast' : ''}: starting the stack and three model versions…`);
  try {
    const result = await runDemo({
      fast: values.fast === true, dataDir: values['data-dir'] ?? env.MLGATE_DATA_DIR ?? './data', anyPorts: values['any-ports'] === true,
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
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
