/**
 * Start and stop of a process's parts, and its signals, in one place (every service's main and
 * embedded mode use it):
 * - {@link Lifecycle}: each started part registers its stop; {@link Lifecycle.stop} stops them in
 *   reverse start order, each within its own deadline, so a part never outlives what it uses. A
 *   stop that fails or overruns its deadline is logged, the others still stop, and the stop
 *   reports the failure (the process then exits non-zero).
 * - {@link watchSignals}: the first SIGINT/SIGTERM asks for a graceful stop; a second one exits at
 *   once (exit code 1), for the operator whose stop hangs.
 * - {@link runUntilSignal}: both together, resolving with the process's exit code.
 */
import type { Logger } from './log.ts';

/** Default longest wait for one part's stop. */
export const DEFAULT_STOP_DEADLINE_MS = 30_000;

/** Options of a registered part. */
export interface PartOptions {
  /** Longest wait for this part's stop (default: the lifecycle's). */
  deadlineMs?: number;
}

interface Part {
  readonly name: string;
  stop: (() => Promise<unknown>) | undefined;
  readonly deadlineMs: number;
}

/** The started parts of a process and their stops. */
export class Lifecycle {
  private readonly parts: Part[] = [];
  private stopping: Promise<boolean> | undefined;
  private readonly deadlineMs: number;

  constructor(private readonly log: Logger, opts: { deadlineMs?: number } = {}) {
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_STOP_DEADLINE_MS;
  }

  /** Registers a part that has started: it stops before every part registered earlier. */
  started(name: string, stop: () => Promise<unknown>, opts: PartOptions = {}): void {
    this.slot(name, opts)(stop);
  }

  /**
   * Reserves a part's place in the stop order now, for a part that starts later but must stop
   * after the parts registered after this call (in embedded mode the ingester starts after the
   * gateway, yet must stop after it, to store what the gateway flushed). Call the returned
   * function with the stop once the part has started; a slot never filled stops nothing.
   */
  slot(name: string, opts: PartOptions = {}): (stop: () => Promise<unknown>) => void {
    const part: Part = { name, stop: undefined, deadlineMs: opts.deadlineMs ?? this.deadlineMs };
    this.parts.push(part);
    return (stop) => {
      if (this.stopping) {
        // Started while the process stops: stop it now rather than leave it running.
        void this.stopOne({ ...part, stop });
        return;
      }
      part.stop = stop;
    };
  }

  /**
   * Stops every part in reverse registration order, each within its deadline. Idempotent.
   * Resolves true when every part stopped in time; false when one failed or overran (logged).
   */
  stop(): Promise<boolean> {
    return (this.stopping ??= (async () => {
      let clean = true;
      for (const part of this.parts.splice(0).reverse()) {
        if (!(await this.stopOne(part))) clean = false;
      }
      return clean;
    })());
  }

  private async stopOne(part: Part): Promise<boolean> {
    if (!part.stop) return true;
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<'overran'>((resolve) => {
      timer = setTimeout(() => resolve('overran'), part.deadlineMs);
    });
    try {
      const r = await Promise.race([Promise.resolve().then(part.stop).then(() => 'stopped' as const), overran]);
      if (r === 'overran') {
        this.log.error({ component: part.name, deadline_ms: part.deadlineMs }, 'stop overran its deadline; going on without it');
        return false;
      }
      return true;
    } catch (err) {
      this.log.error({ err, component: part.name }, 'stop failed');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Options of {@link watchSignals}. */
export interface WatchSignalsOptions {
  logger: Logger;
  /**
   * A repeat within this many ms of the first signal is the same request, not a second one
   * (Ctrl-C under `npm start` reaches the process twice: the terminal's copy and npm's). Default 0.
   */
  repeatGraceMs?: number;
  /** Called once, at the first signal (e.g. to tell the operator the stop has begun). */
  onFirst?: (signal: NodeJS.Signals) => void;
  /** How to exit at a second signal (tests); default process.exit. */
  exit?: (code: number) => void;
}

/** Watching SIGINT and SIGTERM. */
export interface SignalWatch {
  /** Resolves with the first signal. */
  readonly signalled: Promise<NodeJS.Signals>;
  /** The first signal, once there is one. */
  readonly signal: NodeJS.Signals | undefined;
  /** Removes the handlers. */
  dispose(): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Installs SIGINT/SIGTERM handlers (install them before anything starts, so a signal during the
 * start still stops gracefully): the first resolves {@link SignalWatch.signalled}; a later one
 * exits at once with code 1.
 */
export function watchSignals(opts: WatchSignalsOptions): SignalWatch {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let first: NodeJS.Signals | undefined;
  let firstAt = 0;
  let wake!: (s: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((resolve) => { wake = resolve; });
  const onSignal = (signal: NodeJS.Signals) => {
    if (first) {
      if (Date.now() - firstAt < (opts.repeatGraceMs ?? 0)) return;
      opts.logger.warn({ signal }, 'second signal: exiting now');
      opts.logger.flush?.();
      exit(1);
      return;
    }
    first = signal;
    firstAt = Date.now();
    opts.logger.info({ signal }, 'shutting down');
    opts.onFirst?.(signal);
    wake(signal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    signalled,
    get signal() { return first; },
    dispose: () => { for (const s of SIGNALS) process.off(s, onSignal); },
  };
}

/** Options of {@link runUntilSignal}. */
export interface RunUntilSignalOptions extends WatchSignalsOptions {
  /** The process's parts; `stop` may also be any graceful stop resolving true when clean. */
  lifecycle: Pick<Lifecycle, 'stop'>;
  /** A fatal failure of a running part: stops the process like a signal, with exit code 1. */
  failure?: Promise<unknown>;
}

/**
 * Waits for SIGINT/SIGTERM (or `failure`), stops the lifecycle and resolves with the exit code:
 * 0 after a clean stop on a signal, 1 when a stop failed or overran, or the run ended by failure.
 * The handlers stay until the stop is over (a second signal exits at once), then are removed.
 */
export async function runUntilSignal(opts: RunUntilSignalOptions, watch: SignalWatch = watchSignals(opts)): Promise<number> {
  try {
    const failed = opts.failure?.then(
      (err) => ({ err }),
      (err: unknown) => ({ err }),
    );
    const outcome = await Promise.race([watch.signalled.then((signal) => ({ signal })), ...(failed ? [failed] : [])]);
    if ('err' in outcome) opts.logger.error({ err: outcome.err }, 'a part failed: stopping');
    const clean = await opts.lifecycle.stop();
    if (clean) opts.logger.info('stopped');
    return clean && !('err' in outcome) ? 0 : 1;
  } finally {
    watch.dispose();
  }
}

/**
 * How long a process may linger once its command has returned. A service's command returns after
 * its parts have stopped; what still holds the event loop then is a leak in a library (kafkajs
 * retries a request from a timer after a broker restart, long after the client's disconnect gave
 * up), and a service that does not exit after "stopped" is one an orchestrator has to SIGKILL.
 */
export const LINGER_MS = 2000;

/**
 * Sets the exit code and, if the process is still running `lingerMs` later, says what is still
 * open on stderr and exits with that code. The timer is unref'd: a process with nothing left
 * exits at once, as usual.
 */
export function exitWhenDone(code: number, lingerMs = LINGER_MS): void {
  process.exitCode = code;
  setTimeout(() => {
    const counts = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
    const open = [...counts].map(([r, n]) => (n > 1 ? `${r} x${n}` : r)).join(', ');
    process.stderr.write(`mlgate: still running ${lingerMs} ms after the command returned (open: ${open}); exiting with code ${code}\n`);
    process.exit(code);
  }, lingerMs).unref();
}
