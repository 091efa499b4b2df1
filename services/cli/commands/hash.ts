/**
 * `mlgate hash [--config FILE] [--content-type TYPE] [--json]`: prints the keyed hash of stdin,
 * exactly as the gateway computes `input_hash` (canonical JSON for JSON bodies, else bytes),
 * with the configured key (`telemetry.hashing.key`, or MLGATE_HASH_KEY). Use it to find every
 * request that carried a given payload: `echo '{"text":"hi"}' | mlgate hash`. Without --config
 * (and MLGATE_CONFIG) it reads the same default config as `mlgate start`.
 */
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { CoreErrors } from '../../core/errors.ts';
import type { EnvSnapshot } from '../../core/env.ts';
import { TelemetrySection } from '../../telemetry/config.ts';
import { createHasher } from '../../telemetry/hash.ts';
import { HELP_OPTION, configFileOf, parseCommand, type CommandHelp } from '../args.ts';
import { defaultConfigFile } from '../paths.ts';

export const HELP: CommandHelp = {
  name: 'hash',
  usage: '[--config FILE] [--content-type TYPE] [--json] < payload',
  description: `Prints the keyed hash (HMAC-SHA256) of the payload on stdin, exactly as the gateway computes a
request's input_hash: a JSON body is hashed in canonical form (key order and spacing do not
matter), anything else byte for byte. Use it to find every request that carried a payload
(mlgate audit input --hash H) without storing the payload. The key is telemetry.hashing.key
of the config, or MLGATE_HASH_KEY; it must be the gateway's key for the hashes to match.`,
  options: [
    ['-c, --config FILE', 'the YAML config holding the key (default: $MLGATE_CONFIG, else the bundled config/mlgate.yaml)'],
    ['-t, --content-type TYPE', 'how to read stdin: application/json hashes canonical JSON, other types the raw bytes (default: JSON when it parses)'],
    ['--json', 'print {"hash", "hash_key_id"} instead of the bare hash'],
    HELP_OPTION,
  ],
  examples: [`echo '{"text":"great product"}' | MLGATE_HASH_KEY=my-key mlgate hash`],
};

/** Runs the command; returns the exit code. */
export async function run(argv: string[], env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ config?: string; 'content-type'?: string; json?: boolean }>(HELP, argv, {
    config: { type: 'string', short: 'c' }, 'content-type': { type: 'string', short: 't' }, json: { type: 'boolean' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const configFile = configFileOf(values.config, env, defaultConfigFile());
  let cfg: { telemetry: { hashing: { key: string; keyId: string } } };
  try {
    cfg = loadConfig(z.looseObject({ telemetry: TelemetrySection }), configFile, env);
  } catch (err) {
    if (!CoreErrors.configInvalid.is(err)) throw err;
    console.error(`mlgate hash: ${err.code}: ${err.message}\n(the key comes from telemetry.hashing.key in --config FILE, or MLGATE_HASH_KEY)`);
    return 1;
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
