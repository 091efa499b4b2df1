/**
 * `mlgate errors [CODE] [--json]`: the error catalogue (services/core/error-catalogue.ts). Without
 * a code it lists every code mlgate can report with its HTTP status, meaning and what to do; with
 * one it explains that code. An unknown code is a usage error (exit 2) naming the code.
 */
import type { EnvSnapshot } from '../../core/env.ts';
import { catalogueEntry, errorCatalogue, type ErrorSpec } from '../../core/errors.ts';
import { HELP_OPTION, parseCommand, usageFailure, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'errors',
  usage: '[CODE] [--json]',
  description: `Lists every error code mlgate can report (MLG_<AREA>_<WHAT>), with the HTTP status a client
gets, what it means and what to do about it. With a CODE (as printed in a log line, an API answer
or a CLI failure), explains that one code. Codes are stable: runbooks, alerts and scripts can
match them. Needs no config.`,
  options: [
    ['CODE', 'one code to explain, e.g. MLG_GW_CIRCUIT_OPEN (case does not matter)'],
    ['--json', 'print the entries as JSON: an array of {code, status, meaning, action}, or one object with a CODE'],
    HELP_OPTION,
  ],
  examples: ['mlgate errors', 'mlgate errors MLG_WH_UNAVAILABLE'],
};

const json = (s: ErrorSpec) => ({ code: s.code, status: s.status, meaning: s.description, action: s.action });

/** Runs the command; returns the exit code. */
export async function run(argv: string[], _env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ json?: boolean }>(HELP, argv, { json: { type: 'boolean' } }, { max: 1 });
  if (typeof parsed === 'number') return parsed;
  const [asked] = parsed.positionals;
  // `mlgate errors | head` closes stdout early: that is not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'EPIPE') throw err; });
  if (asked === undefined) {
    const all = errorCatalogue();
    if (parsed.values.json) {
      console.log(JSON.stringify(all.map(json)));
      return 0;
    }
    const width = Math.max(...all.map((s) => s.code.length));
    const lines = all.map((s) => `${s.code.padEnd(width)}  ${s.status}  ${s.description}\n${' '.repeat(width + 7)}${s.action}`);
    console.log(`${lines.join('\n')}\n\n${all.length} codes; mlgate errors CODE explains one.`);
    return 0;
  }
  const code = asked.trim().toUpperCase();
  const spec = catalogueEntry(code);
  if (!spec) {
    const near = errorCatalogue().filter((s) => s.code.startsWith(code) || (code.length >= 4 && s.code.includes(code))).map((s) => s.code);
    const hint = near.length && near.length <= 20 ? `; codes that match: ${near.join(', ')}` : '; mlgate errors lists every code';
    return usageFailure(HELP, `unknown error code '${asked.slice(0, 100)}'${hint}`);
  }
  if (parsed.values.json) {
    console.log(JSON.stringify(json(spec)));
    return 0;
  }
  console.log(`${spec.code} (HTTP ${spec.status})\n\nmeaning:    ${spec.description}\nwhat to do: ${spec.action}`);
  return 0;
}
