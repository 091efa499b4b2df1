/**
 * A start step of the embedded process: a failure names the part that did not start. (The parts'
 * stops and their order are services/core/lifecycle.ts's, arranged in embedded.ts.)
 */
import { MlgateError } from '../core/errors.ts';
import { EmbeddedErrors } from './errors.ts';

/** Runs `fn`, turning a failure that is not already a catalogue error into MLG_EMB_START_FAILED naming `what`. */
export async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MlgateError) throw err;
    throw EmbeddedErrors.startFailed(`${what} did not start: ${(err as Error).message}`, { cause: err });
  }
}
