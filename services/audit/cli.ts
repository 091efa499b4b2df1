/**
 * `mlgate audit <command>`: the compliance questions from a terminal. Output is a table (for
 * people), JSON lines or CSV (`--format`); a page that has more rows prints the `--cursor` for
 * the next one on stderr; `export` streams every matching row in bounded memory. Exit codes:
 * 0 done, 1 a check failed (verify, verify-erasure) or an operation failed, 2 bad usage or input.
 * The commands file (services/cli/commands/audit.ts) binds this to the process's streams.
 */
import { accessSync, constants, createWriteStream, readFileSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../core/config.ts';
import { MlgateError } from '../core/errors.ts';
import type { EnvSnapshot } from '../core/env.ts';
import { runUntilSignal } from '../core/lifecycle.ts';
import { createHasher } from '../telemetry/hash.ts';
import { AuditProcessConfig } from './config.ts';
import { AuditErrors } from './errors.ts';
import type { RawInput } from './filters.ts';
import { OUTPUT_FORMATS, formatRows, toTable, type OutputFormat } from './format.ts';
import { checkSchema, openAudit, runAuditServer, type AuditRuntime } from './main.ts';
import { parseAnchors, type Anchor, type VerifyReport } from './verify.ts';

/** The streams a CLI run uses (the process's, or a test's). */
export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

interface Command {
  usage: string;
  /** What the command does, for its --help page. */
  about: string;
  /** A command line that works, for its --help page. */
  example: string;
  /** Help of an option that means something particular here (else {@link OPTION_HELP}'s). */
  optionHelp?: Readonly<Record<string, string>>;
  options?: Options;
  /** Positional argument name, when the command takes one. */
  positional?: string;
  /** Runs against the warehouse. */
  run?(ctx: Ctx): Promise<number>;
  /** Runs from the config alone, without opening the warehouse (which another process may hold). */
  local?(values: Values, configFile: string | undefined, env: EnvSnapshot, io: CliIO): Promise<number>;
}

interface Ctx {
  values: Values;
  arg: string | undefined;
  format: OutputFormat;
  io: CliIO;
  rt: AuditRuntime;
}

const s = (short?: string) => ({ type: 'string' as const, ...(short ? { short } : {}) });
const FILTERS: Options = {
  consumer: s(), model: s(), version: s(), role: s(), outcome: s(), rollout: s(), gateway: s(), status: s(), from: s(), to: s(),
};
const PAGE: Options = { limit: s('n'), cursor: s() };
const PAYLOAD: Options = { 'payload-file': s(), 'content-type': s() };
const SELECTOR: Options = { consumer: s(), 'input-hash': s(), subject: s(), ...PAYLOAD };
const FILTER_USAGE = '[--consumer C] [--model M] [--version V] [--role R] [--outcome O] [--rollout ID] [--gateway G] [--status N] [--from T] [--to T]';
const SELECTOR_USAGE = '(--consumer C | --input-hash H | --payload-file F | --subject S)';

/** The given options among `names`, renamed to the service's field names (dashes to underscores). */
function pick(values: Values, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (typeof values[n] === 'string') out[n.replaceAll('-', '_')] = values[n];
  return out;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
}

async function readPayload(ctx: Pick<Ctx, 'values' | 'io'>): Promise<Buffer> {
  const file = ctx.values['payload-file'];
  if (typeof file === 'string' && file !== '-') return readFileSync(file);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.io.stdin) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    if (size > 16 << 20) throw new Error('the payload on stdin exceeds 16 MiB');
    parts.push(b);
  }
  return Buffer.concat(parts);
}

function contentType(ctx: Pick<Ctx, 'values'>): string | undefined {
  const t = ctx.values['content-type'];
  return typeof t === 'string' ? t : undefined;
}

async function printPage(ctx: Ctx, page: { rows: Record<string, unknown>[]; next_cursor?: string | null }, columns?: string[]): Promise<number> {
  await write(ctx.io.stdout, formatRows(page.rows, ctx.format, ctx.format === 'table' ? columns : undefined));
  if (page.next_cursor) await write(ctx.io.stderr, `more rows: repeat with --cursor ${page.next_cursor}\n`);
  return 0;
}

async function selector(ctx: Ctx): Promise<RawInput> {
  const sel: Record<string, string> = pick(ctx.values, ['consumer', 'input-hash', 'subject']);
  if (typeof ctx.values['payload-file'] === 'string') {
    if (sel.input_hash) throw new UsageError('give --input-hash or --payload-file, not both');
    sel.input_hash = ctx.rt.service.hashPayload(await readPayload(ctx), contentType(ctx));
  }
  return sel;
}

class UsageError extends Error {}

const REQUEST_COLUMNS = ['ts', 'event_id', 'consumer_id', 'model', 'version', 'role', 'outcome', 'status', 'latency_ms', 'input_hash', 'input_redacted'];

function verifyTable(report: VerifyReport): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const t of report.tables) {
    for (const c of t.chains) {
      rows.push({ table: t.table, chain: c.chain_id, rows: c.rows, head_seq: c.head?.seq ?? '', head_hash: c.head?.hash ?? '', status: c.broken ? `BROKEN at seq ${c.broken.seq}` : 'ok' });
    }
    if (t.unchained) rows.push({ table: t.table, chain: '(none)', rows: t.unchained, head_seq: '', head_hash: '', status: 'UNCHAINED' });
    if (!t.chains.length && !t.unchained) rows.push({ table: t.table, chain: '', rows: 0, head_seq: '', head_hash: '', status: 'ok (empty)' });
  }
  return rows;
}

const COMMANDS: Record<string, Command> = {
  requests: {
    about: "Lists requests (one row per request and shadow copy, oldest first) with their redacted input, hashes, outcome and timing, filtered by any of the options.",
    example: "mlgate audit requests --consumer web-shop --from now-1h --config config/mlgate.yaml",
    usage: `requests ${FILTER_USAGE} [--limit N] [--cursor C]`, options: { ...FILTERS, ...PAGE },
    run: async (ctx) => printPage(ctx, await ctx.rt.service.requests(pick(ctx.values, [...Object.keys(FILTERS), 'limit', 'cursor'])), REQUEST_COLUMNS),
  },
  summary: {
    about: "Counts requests, errors and latency per group (--by), over the same filters as requests.",
    example: "mlgate audit summary --model sentiment --by version,outcome --from now-24h --config config/mlgate.yaml",
    usage: `summary ${FILTER_USAGE} [--by consumer,model,version,outcome,role,rollout,gateway,status,day,hour] [--limit N]`,
    options: { ...FILTERS, by: s(), limit: s('n') },
    run: async (ctx) => printPage(ctx, { rows: await ctx.rt.service.summary(pick(ctx.values, [...Object.keys(FILTERS), 'by', 'limit'])) }),
  },
  input: {
    about: "Lists the requests that carried a payload, found by its keyed hash (computed from --payload-file or stdin with the gateways' key, or given with --hash); the payload itself is never stored.",
    example: "echo '{\"text\":\"great product\"}' | mlgate audit input --config config/mlgate.yaml",
    usage: 'input [--hash H | --payload-file F | < payload] [--content-type T] [--from T] [--to T] [--limit N] [--cursor C]',
    options: { hash: s(), ...PAYLOAD, from: s(), to: s(), ...PAGE },
    run: async (ctx) => {
      const hash = typeof ctx.values.hash === 'string' ? ctx.values.hash : ctx.rt.service.hashPayload(await readPayload(ctx), contentType(ctx));
      await write(ctx.io.stderr, `input_hash ${hash}\n`);
      return printPage(ctx, await ctx.rt.service.byInputHash({ input_hash: hash, ...pick(ctx.values, ['from', 'to', 'limit', 'cursor']) }), REQUEST_COLUMNS);
    },
  },
  hash: {
    about: "Prints the keyed input hash of a payload, as the gateway computes it (needs telemetry.hashing in the config; opens no warehouse).",
    example: "echo '{\"text\":\"great product\"}' | mlgate audit hash --config config/mlgate.yaml",
    usage: 'hash [--payload-file F | < payload] [--content-type T]   (the keyed input hash, as the gateway computes it)',
    options: PAYLOAD,
    local: hashOnly,
  },
  event: {
    about: "Prints one request by its event id, every column.",
    example: "mlgate audit event 0193c5d2-7f1e-7a4b-9c3d-2e1f0a9b8c7d --config config/mlgate.yaml",
    usage: 'event EVENT_ID', positional: 'EVENT_ID',
    run: async (ctx) => {
      const row = await ctx.rt.service.event(ctx.arg);
      if (ctx.format !== 'table') return printPage(ctx, { rows: [row] });
      await write(ctx.io.stdout, toTable(Object.entries(row).map(([field, value]) => ({ field, value })), ['field', 'value'], 4000));
      return 0;
    },
  },
  trace: {
    about: "Lists the requests of one trace (the request and its shadow copies).",
    example: "mlgate audit trace 4bf92f3577b34da6a3ce929d0e0e4736 --config config/mlgate.yaml",
    usage: 'trace TRACE_ID', positional: 'TRACE_ID',
    run: async (ctx) => printPage(ctx, { rows: await ctx.rt.service.trace(ctx.arg) }, [...REQUEST_COLUMNS, 'correlation_id']),
  },
  rollout: {
    about: "Lists every decision of a rollout, oldest first, with its evidence and its place in the controller's hash chain. Actions are named as the controller's API names them (start, wait, promote, complete, finish, rollback, pause, resume, abort); the stored value is in stored_action.",
    example: "mlgate audit rollout sentiment-v2 --action rollback --format jsonl --config config/mlgate.yaml",
    optionHelp: { action: 'only decisions of this action (start, wait, promote, complete, finish, rollback, pause, resume, abort; stored names such as manual_start work too)' },
    usage: 'rollout ROLLOUT_ID [--action A] [--limit N] [--cursor C]   (every decision with its evidence; --action start|wait|promote|complete|finish|rollback|pause|resume|abort keeps one action)', positional: 'ROLLOUT_ID', options: { action: s(), ...PAGE },
    run: async (ctx) => printPage(ctx, await ctx.rt.service.rollout(ctx.arg, pick(ctx.values, ['action', 'limit', 'cursor'])),
      ['ts', 'decision_id', 'step', 'action', 'weight_before', 'weight_after', 'reason', 'actor', 'chain_id', 'seq', 'evidence']),
  },
  'admin-changes': {
    about: "Lists the changes made through the gateways' admin API (weights, trips, consumers, reloads) with the state before and after.",
    example: "mlgate audit admin-changes --model sentiment --from now-7d --config config/mlgate.yaml",
    optionHelp: { action: 'only changes of this action (set_weights, trip, reload, ...)', model: 'only changes to this model or one of its versions' },
    usage: 'admin-changes [--from T] [--to T] [--actor A] [--action X] [--target T] [--model M] [--limit N] [--cursor C]',
    options: { from: s(), to: s(), actor: s(), action: s(), target: s(), model: s(), ...PAGE },
    run: async (ctx) => printPage(ctx, await ctx.rt.service.adminChanges(pick(ctx.values, ['from', 'to', 'actor', 'action', 'target', 'model', 'limit', 'cursor'])),
      ['ts', 'change_id', 'actor', 'action', 'target', 'reason', 'chain_id', 'seq', 'after']),
  },
  erasures: {
    about: "Lists the erasures done (erasure_log): who, when, which selector (as a hash) and how many rows.",
    example: "mlgate audit erasures --from now-30d --config config/mlgate.yaml",
    usage: 'erasures [--from T] [--to T] [--actor A] [--limit N] [--cursor C]', options: { from: s(), to: s(), actor: s(), ...PAGE },
    run: async (ctx) => printPage(ctx, await ctx.rt.service.erasures(pick(ctx.values, ['from', 'to', 'actor', 'limit', 'cursor']))),
  },
  export: {
    about: "Writes the requests matching the filters as CSV or JSON lines, streamed (no page limit).",
    example: "mlgate audit export --consumer web-shop --from now-30d --format jsonl --out web-shop.jsonl --config config/mlgate.yaml",
    usage: `export ${FILTER_USAGE} [--format csv|jsonl] [--out FILE]`, options: { ...FILTERS, out: s('o') },
    run: async (ctx) => {
      const format = ctx.values.format === undefined ? 'csv' : String(ctx.values.format);
      const handle = await ctx.rt.service.exportRequests({ ...pick(ctx.values, Object.keys(FILTERS)), format });
      const out = typeof ctx.values.out === 'string' ? createWriteStream(ctx.values.out) : ctx.io.stdout;
      await pipeline(Readable.from(handle.chunks), out, { end: out !== ctx.io.stdout });
      await write(ctx.io.stderr, `exported ${handle.rows} rows as ${handle.format}\n`);
      return 0;
    },
  },
  erase: {
    about: "Deletes every request of a consumer, of a payload (its hash, --payload-file) or of a subject, and records the erasure in the chained erasure_log.",
    example: "mlgate audit erase --consumer reviews-etl --actor dpo --reason 'GDPR request 42' --config config/mlgate.yaml",
    usage: `erase ${SELECTOR_USAGE} --actor NAME [--reason TEXT]`, options: { ...SELECTOR, actor: s(), reason: s() },
    run: async (ctx) => {
      if (typeof ctx.values.actor !== 'string') throw new UsageError('--actor NAME is required (who asked for the erasure)');
      const reason = typeof ctx.values.reason === 'string' ? ctx.values.reason : undefined;
      const result = await ctx.rt.service.erase(await selector(ctx), { actor: ctx.values.actor, reason });
      return printPage(ctx, { rows: [{ ...result.record, deleted: result.deleted, remaining: result.remaining }] },
        ['erasure_id', 'actor', 'selector_kind', 'selector_hash', 'deleted', 'remaining', 'chain_id', 'seq']);
    },
  },
  'verify-erasure': {
    about: "Checks that nothing the selector's newest erasure covers (events at or before it) is left; exit 1 when rows remain. Later rows are listed as rows_since_erasure.",
    example: "mlgate audit verify-erasure --consumer reviews-etl --config config/mlgate.yaml",
    usage: `verify-erasure ${SELECTOR_USAGE}`, options: SELECTOR,
    run: async (ctx) => {
      const check = await ctx.rt.service.verifyErasure(await selector(ctx));
      if (ctx.format === 'table') {
        await write(ctx.io.stdout, toTable(Object.entries(check.remaining).map(([table, rows]) => ({
          table, rows_remaining: rows, ...(check.since_erasure ? { rows_since_erasure: check.since_erasure[table] ?? 0 } : {}),
        }))));
        await write(ctx.io.stdout, `${check.ok ? 'OK: nothing of the' : 'FAILED: rows of the'} ${check.selector_kind} remain${check.ok ? 's' : ''} (selector hash ${check.selector_hash}); erasures logged: ${check.erasures.length}\n`);
      } else await write(ctx.io.stdout, formatRows([check as unknown as Record<string, unknown>], ctx.format));
      return check.ok ? 0 : 1;
    },
  },
  verify: {
    about: "Recomputes every hash chain (canary_decisions, admin_changes, erasure_log) and names the first broken link; exit 1 when one breaks.",
    example: "mlgate audit verify --config config/mlgate.yaml",
    usage: 'verify [--table canary_decisions|admin_changes|erasure_log] [--allow-unchained] [--anchors REPORT.json]   (save a report with --format jsonl; a later verify with --anchors fails if any head in it was cut off or rewritten)',
    options: { table: s(), 'allow-unchained': { type: 'boolean' }, anchors: s() },
    run: async (ctx) => {
      const file = ctx.values.anchors;
      let anchors: Anchor[] | undefined;
      if (typeof file === 'string') {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          throw new UsageError(`--anchors: cannot read ${file}: ${(err as Error).message}`);
        }
        anchors = parseAnchors(text, file);
      }
      const report = await ctx.rt.service.verify({ ...pick(ctx.values, ['table']), ...(ctx.values['allow-unchained'] ? { allow_unchained: 'true' } : {}) }, anchors);
      if (ctx.format === 'jsonl') await write(ctx.io.stdout, `${JSON.stringify(report)}\n`);
      else await write(ctx.io.stdout, formatRows(verifyTable(report), ctx.format));
      if (ctx.format === 'table') await write(ctx.io.stdout, report.firstBreak ? `FIRST BROKEN LINK: ${report.firstBreak.message}\n` : 'OK: every chain verifies\n');
      if (report.firstBreak && ctx.format !== 'table') await write(ctx.io.stderr, `first broken link: ${report.firstBreak.message}\n`);
      return report.ok ? 0 : 1;
    },
  },
  retention: {
    about: "Prints each table's effective TTL next to the configured warehouse.retention; exit 1 when they differ.",
    example: "mlgate audit retention --config config/mlgate.yaml",
    usage: 'retention   (effective TTL of every table next to the configured retention)',
    run: async (ctx) => {
      const rows = await ctx.rt.service.retention();
      await write(ctx.io.stdout, formatRows(rows as unknown as Record<string, unknown>[], ctx.format));
      return rows.every((r) => r.status === 'ok') ? 0 : 1;
    },
  },
};

const TOP_USAGE = 'usage: mlgate audit <command> [--config FILE] [--format table|jsonl|csv] [options]';
const TIMES = 'Times: ISO 8601 (2024-05-01, 2024-05-01T12:00:00Z), epoch ms, now, or relative (now-15m, now-24h, now-7d).';
const commandList = (): string[] => [...Object.values(COMMANDS).map((c) => `  ${c.usage}`), '  serve   (the HTTP audit API on audit.host:audit.port)'];

function usage(): string {
  return [TOP_USAGE, '', ...commandList(), '', TIMES].join('\n');
}

/** `mlgate audit --help`: the commands, the options every command takes, examples, exit codes. */
function topHelp(): string {
  return [TOP_USAGE, '',
    'Answers compliance questions from what ClickHouse holds: who sent what, what each rollout decided and',
    'why, erasure of a data subject\'s requests, and whether the hash chains still verify. Reads the',
    'warehouse of the config (a ClickHouse server, or the embedded data folder once `mlgate start` has',
    'stopped). `mlgate audit <command> --help` explains each option of a command, with an example.', '',
    'commands:', ...commandList(), '', TIMES, '',
    'options:',
    '  -c, --config FILE  the YAML config (default: $MLGATE_CONFIG)',
    '  -f, --format F     output: table (default), jsonl or csv; export writes csv (default) or jsonl',
    '  -h, --help         print this help and exit; after a command, that command\'s help',
    '', 'examples:',
    '  mlgate audit rollout sentiment-v2 --config config/mlgate.yaml',
    '  CLICKHOUSE_URL=http://127.0.0.1:8123 mlgate audit verify --config deploy/mlgate.yml',
    '', 'exit codes: 0 done, 1 failed (or a check failed), 2 usage error'].join('\n');
}

/** What each option does, for the --help pages (a command may say more in `optionHelp`). */
const OPTION_HELP: Readonly<Record<string, string>> = {
  consumer: 'only this consumer (its id in gateway.consumers)', model: 'only this model', version: 'only this model version',
  role: 'only this role: stable, canary, shadow, fallback, pinned', outcome: 'only this outcome (ok, upstream_error, timeout, ...)',
  rollout: 'only requests served under this rollout id', gateway: 'only requests served by this gateway id', status: 'only this HTTP status',
  from: 'from this time, included (default: audit.defaultSpanHours before --to)', to: 'to this time, excluded (default: now)',
  limit: 'rows per page', cursor: 'the next page: the cursor the previous page printed on stderr',
  hash: 'the input hash to look for (else the payload is hashed)', 'payload-file': 'read the payload from this file (- or none: stdin)',
  'content-type': 'how to read the payload: application/json hashes canonical JSON, other types the raw bytes (default: JSON when it parses)',
  by: 'group by these columns, comma-separated', out: 'write to this file instead of stdout', actor: 'only this actor; for erase, who asks for it (recorded)',
  target: 'only changes of this target (model, model/version or config)', reason: 'why, recorded with the erasure',
  'input-hash': 'the requests that carried the payload of this input hash', subject: 'the requests of this data subject id (hashed; needs audit.erasure.subjectColumn)',
  table: 'only this chained table', 'allow-unchained': 'do not fail on rows written before the chains existed',
  anchors: 'a report saved from an earlier verify (--format jsonl): fail if any head in it was cut off or rewritten',
};

/** The --help page of a subcommand: usage, what it does, each option explained, an example, exit codes. */
function commandHelp(name: string, cmd: Command | undefined): string {
  const usageLine = cmd?.usage.replace(/ {3}\(.*\)$/, '') ?? 'serve';
  const about = cmd?.about ?? 'Serves the HTTP audit API (docs/audit.md, "HTTP API") on audit.host:audit.port until SIGINT or SIGTERM.';
  const options: Array<[string, string]> = Object.entries(cmd?.options ?? {}).map(([o, spec]) => [
    `${spec.short ? `-${spec.short}, ` : ''}--${o}${spec.type === 'string' ? ' ' + (o === 'payload-file' || o === 'out' || o === 'anchors' ? 'FILE' : 'X') : ''}`,
    cmd?.optionHelp?.[o] ?? OPTION_HELP[o] ?? '',
  ]);
  options.push(['-c, --config FILE', 'the YAML config (default: $MLGATE_CONFIG)'], ['-f, --format F', `output: ${name === 'export' ? 'csv (default) or jsonl' : 'table (default), jsonl or csv'}`], ['-h, --help', 'print this help and exit']);
  const width = Math.max(...options.map(([f]) => f.length));
  return [
    `usage: mlgate audit ${usageLine}`, '', about, '', 'options:', ...options.map(([f, t]) => `  ${f.padEnd(width)}  ${t}`), '',
    'Times: ISO 8601 (2024-05-01, 2024-05-01T12:00:00Z), epoch ms, now, or relative (now-15m, now-24h, now-7d).', '',
    'example:', `  ${cmd?.example ?? 'mlgate audit serve --config config/mlgate.yaml'}`, '',
    'exit codes: 0 done, 1 failed (or a check failed), 2 usage error',
  ].join('\n');
}

/** `hash` needs only the key. */
async function hashOnly(values: Values, configFile: string | undefined, env: EnvSnapshot, io: CliIO): Promise<number> {
  const cfg = loadConfig(AuditProcessConfig, configFile, env);
  if (!cfg.telemetry) throw AuditErrors.noHasher('computing an input hash needs telemetry.hashing (the gateways\' key) in the config');
  const hasher = createHasher({ key: cfg.telemetry.hashing.key, keyId: cfg.telemetry.hashing.keyId });
  await write(io.stdout, `${hasher.hashPayload(await readPayload({ values, io }), contentType({ values }))}\n`);
  return 0;
}

async function serve(configFile: string | undefined, env: EnvSnapshot, io: CliIO): Promise<number> {
  const server = await runAuditServer({ configFile, env });
  await write(io.stderr, `audit API on ${server.url}\n`);
  return runUntilSignal({ logger: server.runtime.logger, lifecycle: server });
}

/** Runs `mlgate audit` with `argv` (after `audit`); resolves with the exit code. */
export async function runAuditCli(argv: string[], env: EnvSnapshot, io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    if (!name) {
      await write(io.stderr, `mlgate audit: a command is required\n${usage()}\n(mlgate audit --help explains every option)\n`);
      return 2;
    }
    await write(io.stdout, `${topHelp()}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  const common: Options = { config: s('c'), format: s('f'), help: { type: 'boolean', short: 'h' } };
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { ...common, ...(cmd?.options ?? {}) }, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] });
    if (!cmd && name !== 'serve') throw new UsageError(`unknown command '${name}'`);
    if (!values.help && (cmd?.positional ? positionals.length !== 1 : positionals.length)) {
      throw new UsageError(cmd?.positional ? `${name} takes one ${cmd.positional}` : `unexpected argument '${positionals[0]}'`);
    }
  } catch (err) {
    await write(io.stderr, `mlgate audit: ${(err as Error).message}\n${cmd ? `usage: mlgate audit ${cmd.usage}` : usage()}\n`);
    return 2;
  }
  if (values.help) {
    await write(io.stdout, `${commandHelp(name, cmd)}\n`);
    return 0;
  }
  const configFile = typeof values.config === 'string' ? values.config : env.MLGATE_CONFIG;
  const format = (values.format ?? (name === 'export' ? 'csv' : 'table')) as OutputFormat;
  const formats: readonly string[] = name === 'export' ? ['csv', 'jsonl'] : OUTPUT_FORMATS;
  if (!formats.includes(format)) {
    await write(io.stderr, `mlgate audit: --format must be one of ${formats.join(', ')}\n`);
    return 2;
  }
  const payloadFile = values['payload-file'];
  if (typeof payloadFile === 'string' && payloadFile !== '-') {
    // Checked before the warehouse is opened: a mistyped path is a usage error naming the file.
    try {
      accessSync(payloadFile, constants.R_OK);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      await write(io.stderr, `mlgate audit ${name}: --payload-file ${payloadFile}: ${why}\nusage: mlgate audit ${cmd?.usage ?? name}\n`);
      return 2;
    }
  }
  let rt: AuditRuntime | undefined;
  try {
    if (name === 'serve') return await serve(configFile, env, io);
    if (cmd!.local) return await cmd!.local(values, configFile, env, io);
    rt = await openAudit({ configFile, env, logDestination: io.stderr as never });
    await checkSchema(rt.warehouse);
    return await cmd!.run!({ values, arg: positionals[0], format, io, rt });
  } catch (err) {
    const code = err instanceof MlgateError ? `${err.code}: ` : '';
    await write(io.stderr, `mlgate audit ${name}: ${code}${(err as Error).message}\n`);
    return err instanceof UsageError || (err instanceof MlgateError && err.statusCode >= 400 && err.statusCode < 500) ? 2 : 1;
  } finally {
    await rt?.close();
  }
}
