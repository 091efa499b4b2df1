import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Lifecycle } from '../../services/core/lifecycle.ts';
import { silentLogger } from '../../services/core/log.ts';

const CHILD = fileURLToPath(new URL('./helpers/lifecycle-child.ts', import.meta.url));

interface Run { child: ChildProcess; lines: string[]; waitFor(line: string): Promise<void>; exited: Promise<number | null> }

function start(mode: string): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<[string, () => void]> = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const [want, wake] of waiters) if (want === line) wake();
    }
  });
  child.stderr!.resume();
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child, lines, exited,
    waitFor: (line) => (lines.includes(line) ? Promise.resolve() : new Promise<void>((r) => waiters.push([line, r]))),
  };
}

/** Starts the child in `mode`, sends `signal` once it is ready, and returns its exit code and lines after `ready`. */
async function stopWith(mode: string, signal: NodeJS.Signals): Promise<{ code: number | null; lines: string[] }> {
  const r = start(mode);
  await r.waitFor('ready');
  r.child.kill(signal);
  const code = await r.exited;
  return { code, lines: r.lines.slice(1) };
}

const ALL_STOPPED = ['stop d', 'stop b', 'stop c', 'stop a'];

test('lifecycle: SIGTERM stops the parts in reverse start order (a slot stops where it was reserved); exit 0', async () => {
  assert.deepEqual(await stopWith('ok', 'SIGTERM'), { code: 0, lines: [...ALL_STOPPED, 'exit 0'] });
});

test('lifecycle: SIGINT does the same', async () => {
  assert.deepEqual(await stopWith('ok', 'SIGINT'), { code: 0, lines: [...ALL_STOPPED, 'exit 0'] });
});

test('lifecycle: a stop that fails is logged, the others still stop, the exit code is 1', async () => {
  assert.deepEqual(await stopWith('fail', 'SIGTERM'), { code: 1, lines: [...ALL_STOPPED, 'exit 1'] });
});

test('lifecycle: a stop over its deadline is left behind, the others still stop, the exit code is 1', async () => {
  assert.deepEqual(await stopWith('slow', 'SIGTERM'), { code: 1, lines: [...ALL_STOPPED, 'exit 1'] });
});

// The timeout turns "the second signal did not exit" into a failure instead of a hang.
test('lifecycle: a second signal while a stop hangs exits at once with code 1', { timeout: 30_000 }, async () => {
  const r = start('hang');
  await r.waitFor('ready');
  r.child.kill('SIGTERM');
  await r.waitFor('stop c');
  r.child.kill('SIGINT');
  assert.equal(await r.exited, 1);
  assert.deepEqual(r.lines.slice(1), ['stop d', 'stop b', 'stop c'], 'a is never stopped: the process exited during c');
});

test('lifecycle: stop is idempotent and a part that starts after the stop began is stopped at once', async () => {
  const life = new Lifecycle(silentLogger());
  const order: string[] = [];
  life.started('x', async () => { order.push('x'); });
  const late = life.slot('late');
  assert.equal(await Promise.all([life.stop(), life.stop()]).then(([a, b]) => a && b), true);
  late(async () => { order.push('late'); });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['x', 'late']);
});

test('exitWhenDone: a process held by a leaked timer exits with the code and names what was open; an idle one exits at once', { timeout: 30_000 }, async () => {
  const lifecycle = fileURLToPath(new URL('../../services/core/lifecycle.ts', import.meta.url));
  const run = async (body: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { exitWhenDone } from ${JSON.stringify(lifecycle)};\n${body}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const t0 = Date.now();
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, err, ms: Date.now() - t0 };
  };
  // A leaked interval (what kafkajs left after a broker restart) would hold the process forever.
  const held = await run('setInterval(() => {}, 100); exitWhenDone(3, 300);');
  assert.equal(held.code, 3, held.err);
  assert.match(held.err, /still running 300 ms after the command returned \(open: [^)]*Timeout[^)]*\); exiting with code 3/);
  // Nothing left: the unref'd timer does not hold it, and nothing is said.
  const idle = await run('exitWhenDone(0, 20_000);');
  assert.equal(idle.code, 0, idle.err);
  assert.equal(idle.err, '');
  assert.ok(idle.ms < 15_000, `an idle process waited for the linger timer (${idle.ms} ms)`);
});
