/**
 * `mlgate keys [--consumer ID] [--json]`: creates a random API key and prints it with its hash.
 * Give the key to the consumer (it is shown once and stored nowhere); put the hash in
 * `gateway.consumers.<id>.keys`, or add it through the admin API (PUT /admin/consumers/<id>).
 */
import type { EnvSnapshot } from '../../core/env.ts';
import { createApiKey } from '../../gateway/edge/api-keys.ts';
import { HELP_OPTION, parseCommand, usageFailure, type CommandHelp } from '../args.ts';

export const HELP: CommandHelp = {
  name: 'keys',
  usage: '[--consumer ID] [--json]',
  description: `Creates a random API key for a consumer of the gateway and prints it with its hash. The key is
shown once and stored nowhere: give it to the consumer, who sends it as "Authorization: Bearer KEY"
or "x-api-key: KEY". The gateway keeps only the hash: put it in gateway.consumers.<ID>.keys, or
add it at run time through the admin API (PUT /admin/consumers/<ID>). Needs no config.`,
  options: [
    ['--consumer ID', 'the consumer the key is for (letters, digits, ".", "_", "-"); used in the printed config snippet'],
    ['--json', 'print {"key", "hash", "key_id", "consumer"} on one line instead'],
    HELP_OPTION,
  ],
  examples: ['mlgate keys --consumer checkout-service'],
};

/** Runs the command; returns the exit code. */
export async function run(argv: string[], _env: EnvSnapshot): Promise<number> {
  const parsed = parseCommand<{ consumer?: string; json?: boolean }>(HELP, argv, { consumer: { type: 'string' }, json: { type: 'boolean' } });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.consumer !== undefined && !/^[A-Za-z0-9._-]{1,100}$/.test(values.consumer)) {
    return usageFailure(HELP, '--consumer must be letters, digits, ".", "_" or "-" (at most 100)');
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
