/**
 * What every `mlgate` subcommand shares: its help page (usage, what it does, each option, an
 * example), argument parsing with the project's exit codes, and the errors that count as a usage
 * mistake. Exit codes, the same for every command:
 *   0  done
 *   1  the command ran and failed (invalid config, a service unreachable, a check that failed)
 *   2  the command line is wrong (unknown command or option, a missing or malformed argument, a
 *      file named on the command line that cannot be read)
 */
import { accessSync, constants, statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { EnvSnapshot } from '../core/env.ts';
import { MlgateError } from '../core/errors.ts';

/** A subcommand's help page. */
export interface CommandHelp {
  /** e.g. `gateway` or `audit rollout`. */
  name: string;
  /** Arguments after the name, e.g. `--config FILE [--status]`. */
  usage: string;
  /** What the command does, a few lines. */
  description: string;
  /** Each option and what it does, as `[flag, text]`. */
  options: ReadonlyArray<readonly [string, string]>;
  /** Command lines that work after the quick start. */
  examples: readonly string[];
}

/** The `--config FILE` option, the same everywhere. */
export const CONFIG_OPTION = ['-c, --config FILE', 'the YAML config (default: $MLGATE_CONFIG; environment variables override it, see README)'] as const;
/** The `--help` option. */
export const HELP_OPTION = ['-h, --help', 'print this help and exit'] as const;

/** Formats a help page. */
export function helpText(h: CommandHelp): string {
  const width = Math.max(...h.options.map(([f]) => f.length));
  return [
    `usage: mlgate ${h.name} ${h.usage}`.trimEnd(), '', h.description, '',
    'options:', ...h.options.map(([f, t]) => `  ${f.padEnd(width)}  ${t}`), '',
    h.examples.length > 1 ? 'examples:' : 'example:', ...h.examples.map((e) => `  ${e}`), '',
    'exit codes: 0 done, 1 failed, 2 usage error',
  ].join('\n');
}

/** A mistake on the command line: exit code 2 and the message, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `argv` for a command. Prints the help and returns 0 on --help; prints the mistake and
 * the usage line to stderr and returns 2 on an unknown option or a bad argument count.
 */
export function parseCommand<V>(h: CommandHelp, argv: string[], options: Options, positionals: { min?: number; max?: number } = {}): { values: V; positionals: string[] } | number {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: (positionals.max ?? 0) > 0 });
  } catch (err) {
    return usageFailure(h, (err as Error).message);
  }
  if (parsed.values.help) {
    console.log(helpText(h));
    return 0;
  }
  const n = parsed.positionals.length;
  if (n < (positionals.min ?? 0) || n > (positionals.max ?? 0)) {
    return usageFailure(h, n > (positionals.max ?? 0) ? `unexpected argument '${parsed.positionals[positionals.max ?? 0]}'` : 'missing argument');
  }
  return { values: parsed.values as V, positionals: parsed.positionals };
}

/** Prints a usage mistake for `h` and returns exit code 2. */
export function usageFailure(h: Pick<CommandHelp, 'name' | 'usage'>, message: string): number {
  console.error(`mlgate ${h.name}: ${message}\nusage: mlgate ${h.name} ${h.usage}\n(mlgate ${h.name} --help explains every option)`);
  return 2;
}

/**
 * Checks that a file named on the command line can be read, so a typo is a usage error naming
 * the option and the path rather than a failure deep inside the command.
 * @throws UsageError when it does not exist, is a directory or is not readable.
 */
export function requireReadableFile(option: string, path: string): void {
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`${option} ${path}: is a directory, expected a file`);
    accessSync(path, constants.R_OK);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${option} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
}

/**
 * The config file of a command: `--config FILE`, else $MLGATE_CONFIG, else `fallback`, checked
 * readable (a usage error naming it otherwise). Undefined when none is named and there is no
 * fallback (the command then runs on defaults and the environment, or requires one).
 * @throws UsageError when the file cannot be read.
 */
export function configFileOf(given: string | undefined, env: EnvSnapshot, fallback: string): string;
export function configFileOf(given: string | undefined, env: EnvSnapshot): string | undefined;
export function configFileOf(given: string | undefined, env: EnvSnapshot, fallback?: string): string | undefined {
  const file = given ?? env.MLGATE_CONFIG ?? fallback;
  if (file !== undefined) requireReadableFile('--config', file);
  return file;
}

/** Filesystem error codes that mean the user named a path that cannot be used. */
const PATH_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'EISDIR', 'EEXIST', 'ENAMETOOLONG', 'ELOOP']);

/**
 * The exit code and the one-line message for an error a command threw. User mistakes and
 * operational failures print no stack; only an unexpected error (a bug) does.
 */
export function describeFailure(command: string, err: unknown): { code: number; message: string; stack?: string } {
  const prefix = `mlgate${command ? ` ${command}` : ''}`;
  if (err instanceof UsageError) return { code: 2, message: `${prefix}: ${err.message}` };
  if (err instanceof MlgateError) {
    const cause = (err as { cause?: { code?: unknown } }).cause;
    // A bad argument, or a --config file that is not there: the command line is wrong.
    const usage = err.code === 'MLG_CORE_BAD_ARGUMENT' || (err.code === 'MLG_CORE_CONFIG_UNREADABLE' && typeof cause?.code === 'string' && PATH_ERRORS.has(cause.code));
    return { code: usage ? 2 : 1, message: `${prefix}: ${err.code}: ${err.message}` };
  }
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno === 'string' && PATH_ERRORS.has(errno)) return { code: 1, message: `${prefix}: ${(err as Error).message}` };
  return { code: 1, message: `${prefix}: unexpected error: ${(err as Error)?.message ?? String(err)}`, stack: (err as Error)?.stack };
}
