/**
 * Configuration: one YAML file (every service reads its own sections of it), environment
 * overrides, validation by a zod schema, and a frozen, typed result. An invalid value stops the
 * process with the field's path and the reason. Defaults live in the schemas, next to the field.
 *
 * Environment overrides (applied before validation):
 * - the named variables in {@link ENV_OVERRIDES} (e.g. `KAFKA_BROKERS`, `CLICKHOUSE_URL`);
 * - any path as `MLGATE_CFG__section__field=value` (the value is parsed as JSON when it parses,
 *   else taken as a string), e.g. `MLGATE_CFG__gateway__port=8080`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CoreErrors, type ErrorFactory } from './errors.ts';
import type { EnvSnapshot } from './env.ts';

/** Named environment variables and the config path each one sets. */
export const ENV_OVERRIDES: Readonly<Record<string, { path: string; list?: boolean }>> = Object.freeze({
  KAFKA_BROKERS: { path: 'kafka.brokers', list: true },
  CLICKHOUSE_URL: { path: 'warehouse.url' },
  CLICKHOUSE_USER: { path: 'warehouse.username' },
  CLICKHOUSE_PASSWORD: { path: 'warehouse.password' },
  CLICKHOUSE_DATABASE: { path: 'warehouse.database' },
  MLGATE_DATA_DIR: { path: 'dataDir' },
  MLGATE_LOG_LEVEL: { path: 'log.level' },
  MLGATE_ADMIN_TOKEN: { path: 'gateway.admin.token' },
  MLGATE_HASH_KEY: { path: 'telemetry.hashing.key' },
  MLGATE_HASH_KEY_ID: { path: 'telemetry.hashing.keyId' },
});

/** The `log` section. */
export const LogSection = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The `kafka` section, shared by every service that talks to Kafka. Absent brokers = embedded mode. */
export const KafkaSection = z.strictObject({
  brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1).optional(),
  clientId: z.string().min(1).default('mlgate'),
  connectionTimeoutMs: z.number().int().positive().default(3000),
  requestTimeoutMs: z.number().int().positive().default(30000),
});

/**
 * Reads a YAML (or JSON) file: a config, a scenario, a rollouts file.
 * @param what what the file is, in the messages (e.g. `config file`)
 * @throws `fail`: `cannot read <what> <path>: …` when it cannot be read, `<what> <path> is not valid
 *   YAML: …` (with the line) when it does not parse; the cause chained.
 */
export function readYamlFile(path: string, what: string, fail: ErrorFactory): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw fail(`cannot read ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (cause) {
    throw fail(`${what} ${path} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
}

/** Reads a YAML (or JSON) config file into a plain object. Missing path = empty config. */
export function readConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  const doc = readYamlFile(path, 'config file', CoreErrors.configUnreadable);
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw CoreErrors.configUnreadable(`config file ${path} must hold a mapping at the top level`);
  }
  return doc as Record<string, unknown>;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function parseEnvValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Returns a copy of `raw` with the environment overrides applied. */
export function applyEnvOverrides(raw: Record<string, unknown>, env: EnvSnapshot): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const [name, path] of envOverridePaths(env)) {
    const v = env[name]!;
    const spec = ENV_OVERRIDES[name];
    setPath(out, path, spec?.list ? v.split(',').map((s) => s.trim()).filter(Boolean) : spec ? v : parseEnvValue(v));
  }
  return out;
}

/** The environment variables that override the config, with the path each sets, in the order applied. */
function envOverridePaths(env: EnvSnapshot): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const [name, spec] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') out.push([name, spec.path.split('.')]);
  }
  for (const [name, v] of Object.entries(env)) {
    if (name.startsWith('MLGATE_CFG__') && v !== undefined) out.push([name, name.slice('MLGATE_CFG__'.length).split('__')]);
  }
  return out;
}

/**
 * The environment variable that set the value at `path` (or a section above it), if any: the
 * last one applied wins, as in {@link applyEnvOverrides}. An invalid value is blamed on it, not
 * on the file, since that is where the operator has to look.
 */
function envSourceOf(path: readonly PropertyKey[], overrides: Array<[string, string[]]>): string | undefined {
  let found: string | undefined;
  for (const [name, p] of overrides) {
    if (p.length <= path.length && p.every((k, i) => k === String(path[i]))) found = name;
  }
  return found;
}

/**
 * Why an override's path set nothing, when it differs from a key of the parsed config only in
 * case (`MLGATE_CFG__TELEMETRY__…`): keys are case-sensitive, and the unknown key would otherwise
 * be dropped in silence. A path that names no key at all is left alone: another service's section.
 */
function caseMismatch(name: string, path: readonly string[], parsed: unknown): string | undefined {
  let at: unknown = parsed;
  for (let i = 0; i < path.length; i++) {
    if (at === null || typeof at !== 'object' || Array.isArray(at)) return undefined;
    const seg = path[i]!;
    if (Object.hasOwn(at, seg)) {
      at = (at as Record<string, unknown>)[seg];
      continue;
    }
    const near = Object.keys(at).find((k) => k.toLowerCase() === seg.toLowerCase());
    if (near === undefined) return undefined;
    const where = [...path.slice(0, i), near].join('.');
    return `environment variable ${name}: no key ${JSON.stringify(seg)} at ${path.slice(0, i).join('.') || 'the top'}; keys are case-sensitive: did you mean ${where}?`;
  }
  return undefined;
}

/**
 * The environment variable an issue comes from: the one that set its path, or, for a key the
 * schema does not know (reported at the section holding it), the one that set that key.
 */
function issueSourceOf(issue: z.core.$ZodIssue, overrides: Array<[string, string[]]>): string | undefined {
  if (issue.code === 'unrecognized_keys') {
    for (const key of issue.keys) {
      const name = envSourceOf([...issue.path, key], overrides);
      if (name) return name;
    }
  }
  return envSourceOf(issue.path, overrides);
}

/** Deep-freezes a parsed config so no component can change it after start. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Formats zod issues as `path: reason` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .map((i) => {
      const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)';
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/**
 * Validates `raw` against `schema` and returns the frozen result.
 * @throws MLG_CORE_CONFIG_INVALID naming each bad field's path and the reason.
 */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, source = 'config'): Readonly<z.output<S>> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw CoreErrors.configInvalid(`invalid ${source}: ${formatIssues(result.error.issues)}`, {
      details: { issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return deepFreeze(result.data);
}

/**
 * Reads the file, applies the environment, validates: the one call a service's main makes.
 * @throws MLG_CORE_CONFIG_INVALID naming each bad field and where its value came from: the
 * environment variable that set it, else the file.
 */
export function loadConfig<S extends z.ZodType>(schema: S, file: string | undefined, env: EnvSnapshot): Readonly<z.output<S>> {
  const raw = applyEnvOverrides(readConfigFile(file), env);
  const result = schema.safeParse(raw);
  const overrides = envOverridePaths(env);
  if (result.success) {
    const miss = overrides.map(([name, path]) => caseMismatch(name, path, result.data)).find((m) => m !== undefined);
    if (miss) throw CoreErrors.configInvalid(miss);
    return deepFreeze(result.data);
  }
  const fromFile: z.core.$ZodIssue[] = [];
  const fromEnv: string[] = [];
  for (const issue of result.error.issues) {
    const name = issueSourceOf(issue, overrides);
    if (name) fromEnv.push(`environment variable ${name}: ${formatIssues([issue])}`);
    else fromFile.push(issue);
  }
  const parts = [...fromEnv];
  if (fromFile.length) parts.push(`${file ? `config file ${file}` : 'config (no file given)'}: ${formatIssues(fromFile)}`);
  throw CoreErrors.configInvalid(`invalid ${parts.join('; ')}`, {
    details: { issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, source: issueSourceOf(i, overrides) ?? file ?? 'config' })) },
  });
}
