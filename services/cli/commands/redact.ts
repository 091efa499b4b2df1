/**
 * `mlgate redact [--config FILE] [--content-type TYPE] [--max-chars N] [--json]`: prints the
 * redacted form of stdin, as the gateway stores it in `input_redacted` (JSON keeps its shape;
 * text is scanned whole). The counts per entity type go to stderr, or with --json the output is
 * `{ text, counts, truncated }`. Without --content-type, input that parses as JSON is JSON.
 */
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { CoreErrors } from '../../core/errors.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { RedactionSection } from '../../telemetry/config.ts';
import { createRedactor } from '../../telemetry/redact.ts';
import { configFileOf, HELP_OPTION, parseCommand, type CommandHelp } from '../args.ts';
import { defaultConfigFile } from '../paths.ts';

export const HELP: CommandHelp = {
  name: 'redact',
  usage: '[--config FILE] [--content-type TYPE] [--max-chars N] [--json] < payload',
  description: `Prints the payload on stdin as the gateway stores it in input_redacted: e-mail addresses, phone
numbers, card numbers, IP addresses and the like replaced by their type, JSON keeping its shape,
the fields of telemetry.redaction.maskPaths / maskKeys masked, and the text cut to maxChars.
The count of each replaced type goes to stderr. Use it to check what a payload leaves behind.`,
  options: [
    ['-c, --config FILE', 'the YAML config with telemetry.redaction (default: $MLGATE_CONFIG, else the bundled config/mlgate.yaml)'],
    ['-t, --content-type TYPE', 'application/json redacts JSON values, other types the whole text (default: JSON when it parses)'],
    ['--max-chars N', 'cut the redacted text to N characters (default: telemetry.redaction.maxChars)'],
    ['--json', 'print {"text", "counts", "truncated"} on stdout instead'],
    HELP_OPTION,
  ],
  examples: [`echo '{"text":"mail me at ann@example.com"}' | mlgate redact`],
};
const Schema = z.looseObject({ telemetry: z.looseObject({ redaction: RedactionSection.prefault({}) }).prefault({}) });

/** Runs the command; returns the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string; 'content-type'?: string; 'max-chars'?: string; json?: boolean }>(HELP, argv, {
    config: { type: 'string', short: 'c' }, 'content-type': { type: 'string', short: 't' }, 'max-chars': { type: 'string' }, json: { type: 'boolean' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const configFile = configFileOf(values.config, env, defaultConfigFile());
  const red = loadConfig(Schema, configFile, env).telemetry.redaction;
  let maxChars = red.maxChars;
  if (values['max-chars'] !== undefined) {
    maxChars = Number(values['max-chars']);
    if (!Number.isSafeInteger(maxChars) || maxChars < 0) throw CoreErrors.badArgument(`--max-chars must be a non-negative integer, got ${JSON.stringify(values['max-chars'])}`);
  }
  const redactor = createRedactor({ maxChars, maskPaths: red.maskPaths, ...(red.maskKeys ? { maskKeys: red.maskKeys } : {}) });
  const r = redactor.redact(await readStdin(), values['content-type']);
  if (values.json) console.log(JSON.stringify(r));
  else {
    process.stdout.write(r.text.endsWith('\n') ? r.text : `${r.text}\n`);
    console.error(`redactions: ${JSON.stringify(r.counts)}${r.truncated ? ` (truncated to ${maxChars} characters)` : ''}`);
  }
  return 0;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
