/**
 * The `mlgate` command line. Wiring only: each subcommand lives in `commands/<name>.ts` and
 * exports `run(argv: string[], env: EnvSnapshot): Promise<number>` (the exit code). Exit codes
 * and error printing are the same for every command (see args.ts).
 */
import { readEnv } from '../core/env.ts';
import { exitWhenDone } from '../core/lifecycle.ts';
import { describeFailure } from './args.ts';
import { packageVersion } from './paths.ts';

/** Subcommands and what they do (shown by `mlgate help`). */
const COMMANDS: Record<string, string> = {
  start: 'run every service in one process (embedded mode; Linux x64)',
  gateway: 'run the gateway',
  ingester: 'run the Kafka/local-log to ClickHouse ingester',
  controller: 'run the canary controller',
  audit: 'compliance queries, exports, erasure and chain verification',
  migrate: 'apply the ClickHouse schema migrations',
  hash: 'print the keyed hash of stdin',
  redact: 'print the redacted form of JSON or text on stdin',
  keys: 'create an API key and print its hash',
  simulate: 'run the canary decision code over synthetic traffic',
  errors: 'list the error codes, or explain one: meaning and what to do',
  demo: 'run the live demo',
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: mlgate <command> [options]', '',
    ...Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(width)}  ${d}`), '',
    '  mlgate <command> --help   options of a command, with an example',
    '  mlgate --version          print the version', '',
    'exit codes: 0 done, 1 the command failed, 2 usage error (unknown option, bad argument, unreadable file)',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`mlgate ${packageVersion()}`);
    return 0;
  }
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    // `mlgate help <command>` is `mlgate <command> --help`.
    if (name === 'help' && rest[0] && rest[0] in COMMANDS) return main([rest[0], '--help']);
    if (name) console.log(usage());
    else console.error(usage());
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    console.error(`mlgate: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = (await import(`./commands/${name}.ts`)) as { run: (argv: string[], env: ReturnType<typeof readEnv>) => Promise<number> };
  try {
    return await mod.run(rest, readEnv());
  } catch (err) {
    const f = describeFailure(name, err);
    console.error(f.stack ? `${f.message}\n${f.stack}` : f.message);
    return f.code;
  }
}

// `mlgate ... | head`: the reader closed the pipe, so nothing more is wanted. A command stops as
// such a reader expects (exit 0), not with an unhandled EPIPE and its stack trace; a service
// (whose logs go to stderr) keeps serving and drops what it would print.
const SERVICES = new Set(['start', 'gateway', 'ingester', 'controller', 'demo']);
const [command, sub] = process.argv.slice(2);
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  if (!SERVICES.has(command ?? '') && !(command === 'audit' && sub === 'serve')) process.exit(0);
});

main(process.argv.slice(2)).then((code) => exitWhenDone(code), (err: unknown) => {
  const f = describeFailure('', err);
  console.error(f.stack ? `${f.message}\n${f.stack}` : f.message);
  exitWhenDone(f.code);
});
