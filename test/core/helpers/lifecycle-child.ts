/**
 * A process that uses the lifecycle helper as a service's main does: parts a, b, c start in that
 * order (c through a slot reserved before b), then it runs until a signal. Each stop prints
 * `stop <name>` on stdout. argv[2] picks what c's stop does: `ok`, `fail` (throws), `slow`
 * (overruns its 200 ms deadline) or `hang` (never resolves, for the second-signal case).
 */
import { createLogger } from '../../../services/core/log.ts';
import { Lifecycle, runUntilSignal, watchSignals } from '../../../services/core/lifecycle.ts';

const mode = process.argv[2] ?? 'ok';
const logger = createLogger({ service: 'lifecycle-child', level: 'info', destination: process.stderr });
const watch = watchSignals({ logger });
const life = new Lifecycle(logger, { deadlineMs: 5000 });
const say = (line: string) => process.stdout.write(`${line}\n`);
const stopOf = (name: string) => async () => { say(`stop ${name}`); };

// Stands for a listening server: what keeps a service's event loop alive until it stops.
const serving = setInterval(() => {}, 1000);
life.started('a', async () => { clearInterval(serving); say('stop a'); });
const cSlot = life.slot('c', { deadlineMs: mode === 'slow' ? 200 : 5000 });
life.started('b', stopOf('b'));
cSlot(async () => {
  say('stop c');
  if (mode === 'fail') throw new Error('c cannot stop');
  if (mode === 'slow') await new Promise((r) => setTimeout(r, 60_000).unref());
  if (mode === 'hang') await new Promise(() => { setInterval(() => {}, 1000); });
});
life.started('d', stopOf('d'));
say('ready');
void runUntilSignal({ logger, lifecycle: life }, watch).then((code) => {
  say(`exit ${code}`);
  process.exitCode = code;
});
