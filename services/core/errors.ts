/**
 * The error catalogue's base. Every failure mlgate reports has a stable code
 * (`MLG_<AREA>_<WHAT>`), an HTTP status where one applies, and its cause chained.
 * Each area defines its codes in its own `errors.ts` with {@link defineError}; a code
 * defined twice throws at import time, so a code can never be reused for another meaning.
 */

const registry = new Map<string, ErrorSpec>();

/** What a catalogue entry declares. */
export interface ErrorSpec {
  /** Stable code, e.g. `MLG_GW_UPSTREAM_TIMEOUT`. */
  readonly code: string;
  /** HTTP status when the error reaches a client; 500 when none applies. */
  readonly status: number;
  /** One-line description, for docs and API clients (the catalogue is errorCatalogue()). */
  readonly description: string;
}

/** Base class of every mlgate error. */
export class MlgateError extends Error {
  /** Stable code from the catalogue. */
  readonly code: string;
  /** HTTP status for a client-facing response. */
  readonly statusCode: number;
  /** Structured, non-sensitive details (a field path, a limit); safe to log and return. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(spec: ErrorSpec, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MlgateError';
    this.code = spec.code;
    this.statusCode = spec.status;
    this.details = options?.details ? Object.freeze({ ...options.details }) : undefined;
  }

  /** The body a client or API caller sees. Never includes the cause's text (it may carry internals). */
  toJSON(): { error: { code: string; message: string; details?: Readonly<Record<string, unknown>> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** A catalogue entry: call it to build an error with that code. */
export interface ErrorFactory extends ErrorSpec {
  (message: string, options?: { cause?: unknown; details?: Record<string, unknown> }): MlgateError;
  /** True when `err` is an MlgateError with this code. */
  is(err: unknown): err is MlgateError;
}

/** Registers a code and returns its factory. Throws when the code is malformed or already defined. */
export function defineError(code: string, status: number, description: string): ErrorFactory {
  if (!/^MLG_[A-Z]+_[A-Z0-9_]+$/.test(code)) throw new Error(`error code ${code} does not match MLG_<AREA>_<WHAT>`);
  if (registry.has(code)) throw new Error(`error code ${code} is defined twice`);
  const spec: ErrorSpec = Object.freeze({ code, status, description });
  registry.set(code, spec);
  const factory = ((message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) =>
    new MlgateError(spec, message, options)) as ErrorFactory;
  Object.assign(factory, spec, { is: (err: unknown) => err instanceof MlgateError && err.code === code });
  return Object.freeze(factory);
}

/** Every code defined so far (by the modules imported), sorted. */
export function errorCatalogue(): ErrorSpec[] {
  return [...registry.values()].sort((a, b) => a.code.localeCompare(b.code));
}

/** Errors shared by every area: configuration and input validation. */
export const CoreErrors = {
  configInvalid: defineError('MLG_CORE_CONFIG_INVALID', 500, 'A configuration value failed validation'),
  configUnreadable: defineError('MLG_CORE_CONFIG_UNREADABLE', 500, 'The configuration file could not be read or parsed'),
  badArgument: defineError('MLG_CORE_BAD_ARGUMENT', 400, 'A command-line argument or API parameter is invalid'),
} as const;
