/**
 * The error catalogue's base. Every failure mlgate reports has a stable code
 * (`MLG_<AREA>_<WHAT>`), an HTTP status where one applies, and its cause chained.
 * The codes, their statuses, meanings and what to do are listed once, in error-catalogue.ts;
 * each area takes its factories from there in its own `errors.ts` with {@link defineError}. A code
 * not in the catalogue, or taken twice, throws at import time.
 */
import { ERROR_CATALOGUE, isErrorCode, type ErrorCode } from './error-catalogue.ts';

const taken = new Set<string>();

/** What a catalogue entry declares. */
export interface ErrorSpec {
  /** Stable code, e.g. `MLG_GW_UPSTREAM_TIMEOUT`. */
  readonly code: string;
  /** HTTP status when the error reaches a client; 500 when none applies. */
  readonly status: number;
  /** What it means, one line, for docs and API clients (the catalogue is errorCatalogue()). */
  readonly description: string;
  /** What to do about it (`mlgate errors CODE` prints it). */
  readonly action: string;
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

/**
 * The factory of a catalogue code (status, meaning and action from error-catalogue.ts).
 * Throws when the code is not in the catalogue or its factory was already taken.
 */
export function defineError(code: ErrorCode): ErrorFactory {
  if (!isErrorCode(code)) throw new Error(`error code ${String(code)} is not in the catalogue (services/core/error-catalogue.ts)`);
  if (taken.has(code)) throw new Error(`error code ${code} is defined twice`);
  taken.add(code);
  const entry = ERROR_CATALOGUE[code];
  return errorFactory({ code, status: entry.status, description: entry.meaning, action: entry.action });
}

/**
 * A factory for any well-formed spec, catalogued or not: for tests of the error machinery. Code
 * in services/ uses {@link defineError}, so every code it can report is in the catalogue.
 */
export function errorFactory(spec: ErrorSpec): ErrorFactory {
  if (!/^MLG_[A-Z]+_[A-Z0-9_]+$/.test(spec.code)) throw new Error(`error code ${spec.code} does not match MLG_<AREA>_<WHAT>`);
  const frozen: ErrorSpec = Object.freeze({ ...spec });
  const factory = ((message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) =>
    new MlgateError(frozen, message, options)) as ErrorFactory;
  Object.assign(factory, frozen, { is: (err: unknown) => err instanceof MlgateError && err.code === frozen.code });
  return Object.freeze(factory);
}

/** Every code of the catalogue, sorted. */
export function errorCatalogue(): ErrorSpec[] {
  return Object.entries(ERROR_CATALOGUE)
    .map(([code, e]) => ({ code, status: e.status, description: e.meaning, action: e.action }))
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** The catalogue entry of `code`, or undefined when there is none. */
export function catalogueEntry(code: string): ErrorSpec | undefined {
  if (!isErrorCode(code)) return undefined;
  const e = ERROR_CATALOGUE[code];
  return { code, status: e.status, description: e.meaning, action: e.action };
}

/** Errors shared by every area: configuration and input validation. */
export const CoreErrors = {
  configInvalid: defineError('MLG_CORE_CONFIG_INVALID'),
  configUnreadable: defineError('MLG_CORE_CONFIG_UNREADABLE'),
  badArgument: defineError('MLG_CORE_BAD_ARGUMENT'),
} as const;
