/**
 * CPU time of a process and all its descendants, read from /proc (Linux): utime + stime of every
 * thread of each process, in µs. A node:cluster primary and its workers are one tree, so one call
 * on the primary's pid gives what the whole cluster spent. Processes that exited between two
 * calls drop out of the sum: take the difference of two calls over a period with no restarts.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone
  }
}

/** Every live process as pid -> parent pid. */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(pid);
    if (f) m.set(pid, Number(f[1])); // field 4 (ppid) is index 1 after the name
  }
  return m;
}

/** `pid` and its descendants, `pid` first. */
export function processTree(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const [p, pp] of parents()) byParent.set(pp, [...(byParent.get(pp) ?? []), p]);
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.shift()!;
    out.push(p);
    todo.push(...(byParent.get(p) ?? []));
  }
  return out;
}

/** CPU time (µs, user + system, all threads) used so far by `pid` and every descendant. */
export function treeCpuUs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const f = statFields(p);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime (14), stime (15)
  }
  return (ticks * 1e6) / clockTicks();
}
