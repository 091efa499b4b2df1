/**
 * The `mlgate` command line. Wiring only: each subcommand lives in `commands/<name>.ts` and
 * exports `run(argv: string[], env: EnvSnapshot): Promise<number>` (the exit code).
 */
import { readEnv } from '../core/env.ts';
import { MlgateError } from '../core/errors.ts';

/** Subcommands and what they do (shown by `mlgate help`). */
const COMMANDS: Record<string, string> = {
  start: 'run every service in one process (embedded mode)',
  gateway: 'run the gateway (--config FILE)',
  ingester: 'run the Kafka/local-log to ClickHouse ingester',
  controller: 'run the canary controller',
  audit: 'compliance queries, exports, erasure and chain verification',
  migrate: 'apply the ClickHouse schema migrations',
  hash: 'print the keyed hash of stdin',
  redact: 'print the redacted form of JSON or text on stdin',
  keys: 'create an API key and print its hash',
  simulate: 'run the canary decision code over synthetic traffic (--scenario FILE)',
  demo: 'run the live demo',
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return ['usage: mlgate <command> [options]', '', ...Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(width)}  ${d}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    console.error(`mlgate: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  let mod: { run: (argv: string[], env: ReturnType<typeof readEnv>) => Promise<number> };
  try {
    mod = await import(`./commands/${name}.ts`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`commands/${name}.ts`)) {
      console.error(`mlgate: '${name}' is not available in this build yet`);
      return 2;
    }
    throw err;
  }
  return mod.run(rest, readEnv());
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof MlgateError) console.error(`mlgate: ${err.code}: ${err.message}`);
    else console.error('mlgate:', err);
    process.exitCode = 1;
  },
);
