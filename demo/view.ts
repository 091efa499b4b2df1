/**
 * The demo's live terminal view. On a TTY it redraws one block in place (ANSI: cursor up, clear
 * line) at most a few times a second: the load, and for each rollout its phase, step, weight,
 * sample sizes against the step's gates, every metric's value against its tolerance with the test
 * statistic against its threshold, and the decisions so far. Elsewhere (a pipe, a CI log) it
 * prints plain lines instead: each decision that is not a `wait` as it happens (one the polling
 * missed, from the frame's history), and a one-line status every `statusEveryMs`.
 */
import type { Writable } from 'node:stream';
import { describeRollout, duration, type RolloutDisplay } from '../services/controller/web/describe.ts';
import type { RolloutSnapshot } from '../services/controller/web/types.ts';
import type { LoadStats } from './load.ts';

/** What one frame shows. */
export interface Frame {
  /** Seconds since the demo started. */
  elapsedS: number;
  /** Current phase of the demo script, e.g. `rollout 1 of 2: v2 (the regressing build)`. */
  stage: string;
  rps: number;
  load: LoadStats;
  rollouts: readonly RolloutSnapshot[];
  /** Non-wait decisions seen so far per rollout id, oldest first (`action@weight`). */
  history: ReadonlyMap<string, readonly string[]>;
}

const ESC = '\x1b[';
const COLOR = { red: `${ESC}31m`, green: `${ESC}32m`, yellow: `${ESC}33m`, cyan: `${ESC}36m`, dim: `${ESC}2m`, bold: `${ESC}1m`, reset: `${ESC}0m` };

function paint(text: string, color: keyof typeof COLOR, on: boolean): string {
  return on ? `${COLOR[color]}${text}${COLOR.reset}` : text;
}

function phaseColor(phase: string): keyof typeof COLOR {
  return phase === 'promoted' ? 'green' : phase === 'rolled_back' || phase === 'aborted' ? 'red' : phase === 'paused' ? 'yellow' : 'cyan';
}

function statusColor(status: string): keyof typeof COLOR {
  return status === 'regressed' ? 'red' : status === 'accepted' ? 'green' : 'dim';
}

function counts(rec: Record<string, number>): string {
  const parts = Object.entries(rec).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`);
  return parts.length ? parts.join(', ') : '-';
}

function rolloutLines(d: RolloutDisplay, history: readonly string[], color: boolean): string[] {
  const lines = [
    `${paint(d.id, 'bold', color)}  ${d.title}  ${paint(d.phase.toUpperCase(), phaseColor(d.phase), color)}  step ${d.step}  weight ${d.weight}%  elapsed ${d.elapsed}  next evaluation in ${d.nextTick}${d.deadline === '-' ? '' : `  ${d.deadline}`}`,
    `  samples in step: canary ${d.samples.canary ?? '-'}, stable ${d.samples.stable ?? '-'}   gates: ${d.gates}`,
    `  ${'metric'.padEnd(20)} ${'status'.padEnd(13)} ${'value'.padEnd(36)} ${'tolerance'.padEnd(20)} test / threshold`,
  ];
  for (const m of d.metrics) {
    const name = `${m.name}${m.critical ? '' : '*'}`.padEnd(20);
    lines.push(`  ${name} ${paint(m.status.padEnd(13), statusColor(m.status), color)} ${m.value.padEnd(36)} ${m.tolerance.padEnd(20)} ${m.test}`);
  }
  if (d.decision) lines.push(`  latest decision #${d.decision.seq}: ${paint(d.decision.action, d.decision.action === 'rollback' ? 'red' : d.decision.action === 'complete' || d.decision.action === 'finish' || d.decision.action === 'promote' ? 'green' : 'dim', color)}: ${d.decision.reason}`);
  lines.push(`  decisions: ${history.length ? history.join(' → ') : '-'}`);
  return lines;
}

/** The lines of a frame (no trailing newline). `color` adds ANSI colours. */
export function renderFrame(f: Frame, color = false): string[] {
  const l = f.load;
  const lines = [
    paint(`mlgate demo  ${duration(f.elapsedS)}  ${f.stage}`, 'bold', color),
    `load: ${f.rps} req/s  sent ${l.sent} (with PII ${l.withPii})  answers ${counts(l.byStatus)}  served by ${counts(l.byVersion)}`,
    '',
  ];
  for (const r of f.rollouts) {
    lines.push(...rolloutLines(describeRollout(r), f.history.get(r.id) ?? [], color), '');
  }
  if (f.rollouts.length === 0) lines.push('no rollout yet', '');
  lines.push(paint('* non-critical metric: a regression pauses the rollout instead of rolling it back', 'dim', color));
  return lines;
}

/** Options of {@link LiveView}. */
export interface LiveViewOptions {
  out: Writable & { isTTY?: boolean; columns?: number };
  /** Redraw in place (default: when `out` is a TTY). */
  tty?: boolean;
  /** Plain mode: one status line this often (default 10 s). */
  statusEveryMs?: number;
}

/** Draws frames; see the module comment. */
export class LiveView {
  private readonly out: LiveViewOptions['out'];
  private readonly tty: boolean;
  private readonly statusEveryMs: number;
  private drawn = 0;
  private lastStatus = 0;
  private readonly seen = new Map<string, number>();
  /** History entries already printed per rollout (plain mode). */
  private readonly printed = new Map<string, number>();

  constructor(opts: LiveViewOptions) {
    this.out = opts.out;
    this.tty = opts.tty ?? opts.out.isTTY === true;
    this.statusEveryMs = opts.statusEveryMs ?? 10_000;
  }

  /** Shows a frame. */
  draw(f: Frame): void {
    if (this.tty) this.redraw(f);
    else this.plain(f);
  }

  /** Leaves the cursor below the block (TTY) so later output does not overwrite it. */
  done(): void {
    this.drawn = 0;
  }

  private redraw(f: Frame): void {
    const width = Math.max(40, (this.out.columns ?? 120) - 1);
    const lines = renderFrame(f, true).map((s) => clip(s, width));
    let text = this.drawn > 0 ? `${ESC}${this.drawn}A\r` : '';
    for (const line of lines) text += `${ESC}2K${line}\n`;
    // Clear what is left of a longer previous frame.
    for (let i = lines.length; i < this.drawn; i++) text += `${ESC}2K\n`;
    if (this.drawn > lines.length) text += `${ESC}${this.drawn - lines.length}A`;
    this.drawn = lines.length;
    this.out.write(text);
  }

  private plain(f: Frame): void {
    const now = Date.now();
    for (const r of f.rollouts) {
      const d = describeRollout(r, now);
      const last = r.latestDecision;
      // The history has every decision other than a wait (the start too, which the latest decision
      // rarely shows for long); the latest is printed in full, with its metrics.
      const history = f.history.get(r.id) ?? [];
      const printed = this.printed.get(r.id) ?? 0;
      for (let i = printed; i < history.length; i++) {
        if (i < history.length - 1 || !last || last.action === 'wait' || `${last.action}@${last.toWeight}%` !== history[i]) {
          this.out.write(`[${duration(f.elapsedS)}] ${r.id}: ${history[i]} (recorded)\n`);
        }
      }
      this.printed.set(r.id, Math.max(printed, history.length));
      if (last && last.seq !== this.seen.get(r.id)) {
        this.seen.set(r.id, last.seq);
        if (last.action !== 'wait') {
          this.out.write(`[${duration(f.elapsedS)}] ${r.id}: ${last.action} ${last.fromWeight}% -> ${last.toWeight}% (${r.phase}): ${last.reason}\n`);
          for (const m of d.metrics) this.out.write(`    ${m.name}: ${m.status}; ${m.value}; tolerance ${m.tolerance}; test ${m.test}\n`);
        }
      }
    }
    if (now - this.lastStatus >= this.statusEveryMs) {
      this.lastStatus = now;
      const rs = f.rollouts.map((r) => `${r.id} ${r.phase} ${r.weight}%`).join('; ') || 'no rollout yet';
      this.out.write(`[${duration(f.elapsedS)}] ${f.stage} | sent ${f.load.sent}, answers ${counts(f.load.byStatus)} | ${rs}\n`);
    }
  }
}

/** Cuts a line to `width` visible characters, keeping ANSI sequences intact. */
export function clip(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end !== -1) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}
