/**
 * The parts of a starting embedded process and how to stop them: each started part registers
 * its stop function under a name, and {@link Parts.stopAll} runs them in the stop order of the
 * module comment of embedded.ts, whatever order they started in. A part that fails to stop is
 * logged and the others still stop.
 */
import { MlgateError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { EmbeddedErrors } from './errors.ts';

/** Stop order (name prefixes of the parts). */
export const STOP_ORDER = ['gateway', 'telemetry sink', 'tracing', 'ingester', 'controller', 'rollout page', 'audit API', 'control channel', 'warehouse', 'model'] as const;

/** The started parts' stop functions. */
export class Parts {
  private readonly stops: Array<[string, () => Promise<unknown>]> = [];

  constructor(private readonly log: Logger) {}

  /** Registers a started part. */
  started(name: string, stop: () => Promise<unknown>): void {
    this.stops.push([name, stop]);
  }

  /** Stops every registered part in {@link STOP_ORDER}; idempotent (a part stops once). */
  async stopAll(): Promise<void> {
    const rank = (name: string) => {
      const i = STOP_ORDER.findIndex((p) => name.startsWith(p));
      return i === -1 ? STOP_ORDER.length : i;
    };
    const ordered = this.stops.splice(0).sort((a, b) => rank(a[0]) - rank(b[0]));
    for (const [name, stop] of ordered) {
      await stop().catch((err: unknown) => this.log.error({ err, component: name }, 'stop failed'));
    }
  }
}

/** Runs `fn`, turning a failure that is not already a catalogue error into MLG_EMB_START_FAILED naming `what`. */
export async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MlgateError) throw err;
    throw EmbeddedErrors.startFailed(`${what} did not start: ${(err as Error).message}`, { cause: err });
  }
}
