/**
 * `mlgate hash [--config FILE] [--content-type TYPE] [--json]`: prints the keyed hash of stdin,
 * exactly as the gateway computes `input_hash` (canonical JSON for JSON bodies, else bytes),
 * with the configured key (`telemetry.hashing.key`, or MLGATE_HASH_KEY). Use it to find every
 * request that carried a given payload: `echo '{"text":"hi"}' | mlgate hash`.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { CoreErrors } from '../../core/errors.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { TelemetrySection } from '../../telemetry/config.ts';
import { createHasher } from '../../telemetry/hash.ts';

const USAGE = 'usage: mlgate hash [--config FILE] [--content-type TYPE] [--json] < payload';

/** Runs the command; returns the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  let values: { config?: string; 'content-type'?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, 'content-type': { type: 'string', short: 't' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    console.error(`mlgate hash: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let cfg: { telemetry: { hashing: { key: string; keyId: string } } };
  try {
    cfg = loadConfig(z.looseObject({ telemetry: TelemetrySection }), values.config ?? env.MLGATE_CONFIG, env);
  } catch (err) {
    if (!CoreErrors.configInvalid.is(err)) throw err;
    console.error(`mlgate hash: ${err.message}\n(the key comes from telemetry.hashing.key in --config FILE, or MLGATE_HASH_KEY)`);
    return 2;
  }
  const hasher = createHasher({ key: cfg.telemetry.hashing.key, keyId: cfg.telemetry.hashing.keyId });
  const body = await readStdin();
  const hash = hasher.hashPayload(body, values['content-type']);
  console.log(values.json ? JSON.stringify({ hash, hash_key_id: hasher.keyId }) : hash);
  return 0;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
