/**
 * `mlgate redact [--config FILE] [--content-type TYPE] [--max-chars N] [--json]`: prints the
 * redacted form of stdin, as the gateway stores it in `input_redacted` (JSON keeps its shape;
 * text is scanned whole). The counts per entity type go to stderr, or with --json the output is
 * `{ text, counts, truncated }`. Without --content-type, input that parses as JSON is JSON.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { CoreErrors } from '../../core/errors.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { RedactionSection } from '../../telemetry/config.ts';
import { createRedactor } from '../../telemetry/redact.ts';

const USAGE = 'usage: mlgate redact [--config FILE] [--content-type TYPE] [--max-chars N] [--json] < payload';
const Schema = z.looseObject({ telemetry: z.looseObject({ redaction: RedactionSection.prefault({}) }).prefault({}) });

/** Runs the command; returns the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { config?: string; 'content-type'?: string; 'max-chars'?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, 'content-type': { type: 'string', short: 't' }, 'max-chars': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    console.error(`mlgate redact: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const red = loadConfig(Schema, values.config ?? env.MLGATE_CONFIG, env).telemetry.redaction;
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
