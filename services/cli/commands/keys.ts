/**
 * `mlgate keys [--consumer ID] [--json]`: creates a random API key and prints it with its hash.
 * Give the key to the consumer (it is shown once and stored nowhere); put the hash in
 * `gateway.consumers.<id>.keys`, or add it through the admin API (PUT /admin/consumers/<id>).
 */
import { parseArgs } from 'node:util';
import type { EnvSnapshot } from '../../core/env.ts';
import { createApiKey } from '../../gateway/edge/api-keys.ts';

const USAGE = 'usage: mlgate keys [--consumer ID] [--json]';

/** Runs the command; returns the exit code. */
export async function run(argv: string[], _env: EnvSnapshot): Promise<number> {
  let values: { consumer?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { consumer: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    console.error(`mlgate keys: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.consumer !== undefined && !/^[A-Za-z0-9._-]{1,100}$/.test(values.consumer)) {
    console.error(`mlgate keys: --consumer must be letters, digits, ".", "_" or "-" (at most 100)\n${USAGE}`);
    return 2;
  }
  const k = createApiKey();
  if (values.json) {
    console.log(JSON.stringify({ key: k.key, hash: k.hash, key_id: k.keyId, ...(values.consumer ? { consumer: values.consumer } : {}) }));
    return 0;
  }
  const id = values.consumer ?? '<consumer id>';
  console.log(`key:  ${k.key}\nhash: ${k.hash}\n\nGive the key to the consumer; it is not stored anywhere. Add the hash to the config:\n  gateway:\n    consumers:\n      ${id}:\n        keys: ['${k.hash}']`);
  return 0;
}
