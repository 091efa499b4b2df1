/**
 * docker-compose.yml and the Dockerfile, checked offline by parsing them (this machine has no
 * Docker engine; test/observability/compose.test.ts runs `docker-compose config` where Debian's
 * docker-compose is installed). Structure only: that images build and containers start is not
 * checked here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../services/core/config.ts';
import { AuditProcessConfig } from '../../services/audit/config.ts';
import { ROOT } from '../cli/helpers.ts';

interface Service {
  image?: string; build?: { context: string; dockerfile?: string; target?: string }; command?: string[]; entrypoint?: string[];
  environment?: Record<string, string>; volumes?: string[]; healthcheck?: { test: string[] }; depends_on?: Record<string, unknown>;
}
const compose = (): { version?: unknown; services: Record<string, Service>; volumes: Record<string, unknown> } =>
  parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });

test('compose: no obsolete version key; Kafka keeps its log directory in a named volume', () => {
  const c = compose();
  assert.equal(c.version, undefined, 'the top-level version key is obsolete');
  const kafka = c.services.kafka!;
  const dir = kafka.environment!.KAFKA_LOG_DIRS;
  assert.ok(dir, 'KAFKA_LOG_DIRS is set');
  const mount = (kafka.volumes ?? []).find((v) => v.split(':')[1] === dir);
  assert.ok(mount, `a volume is mounted at Kafka's log directory ${dir}`);
  assert.ok(mount.split(':')[0]! in c.volumes, 'it is a named volume');
});

test('compose: Grafana gets the ClickHouse plugin at a pinned version at build time, not downloaded at start', () => {
  const g = compose().services.grafana!;
  assert.equal(g.environment?.GF_INSTALL_PLUGINS, undefined, 'no plugin download at start');
  assert.ok(g.build, 'grafana is built from deploy/grafana');
  const df = readFileSync(join(ROOT, g.build.context, g.build.dockerfile ?? 'Dockerfile'), 'utf8');
  assert.match(df, /^FROM grafana\/grafana:\d+\.\d+\.\d+$/m, 'a pinned Grafana');
  assert.match(df, /plugins install grafana-clickhouse-datasource \d+\.\d+\.\d+/, 'a pinned plugin version');
});

test('compose: an audit service runs `mlgate audit serve` from the production image; the config is valid for it', () => {
  const c = compose();
  const a = c.services.audit!;
  assert.deepEqual(a.command, ['audit', 'serve', '--config', '/etc/mlgate/mlgate.yml']);
  assert.equal(a.build?.target, 'runtime');
  assert.ok(a.healthcheck?.test.length);
  const cfg = loadConfig(AuditProcessConfig, join(ROOT, 'deploy/mlgate.yml'), Object.freeze({ ...a.environment }));
  assert.equal(cfg.audit.host, '0.0.0.0');
  assert.match(a.healthcheck!.test.join(' '), new RegExp(`\\b${cfg.audit.port}\\b`), 'the healthcheck probes the audit port');
  assert.ok(cfg.audit.tokens.length > 0, 'the audit API has a token');
  for (const name of ['gateway', 'ingester', 'controller']) assert.equal(c.services[name]!.build?.target, 'runtime', `${name} runs the production image`);
  for (const name of ['model-v1', 'model-v2', 'loadgen']) {
    const s = c.services[name]!;
    assert.equal(s.build?.target, 'build', `${name} (a TypeScript demo tool) runs from the build stage, which has tsx`);
    const script = s.entrypoint!.find((x) => /\.(mjs|ts)$/.test(x))!;
    assert.ok(existsSync(join(ROOT, script)), script);
  }
});

test('README and compose agree on `docker compose up --build`', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const file = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  assert.match(file, /docker compose up --build/);
  assert.match(readme, /docker compose up --build/);
  assert.doesNotMatch(readme, /docker compose up(?! --build)[`\s,.]/, 'no bare `docker compose up` in the README');
});

test('Dockerfile: multi-stage, production dependencies only, non-root, runs dist/', () => {
  const df = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = df.split(/^FROM /m).slice(1);
  assert.ok(stages.length >= 2, 'more than one stage');
  const last = stages.at(-1)!;
  assert.match(last, /^node:20-slim AS runtime/);
  assert.match(df, /npm ci --omit=dev/, 'a stage installs production dependencies only');
  assert.match(last, /COPY --from=deps \/app\/node_modules/, 'the runtime takes those node_modules');
  assert.match(last, /COPY --from=build \/src\/dist \.\/dist/, 'and the compiled dist/');
  assert.doesNotMatch(last, /COPY (\.|services) /, 'no TypeScript sources in the runtime stage');
  assert.doesNotMatch(last, /npm (ci|install)(?! --omit=dev)/, 'no dev dependencies installed in the runtime stage');
  assert.match(last, /^USER (node|\d+)$/m, 'runs as a non-root user');
  assert.match(last, /ENTRYPOINT \["node", "bin\/mlgate\.mjs"\]/);
  // bin/mlgate.mjs runs dist/ when the sources are absent, as in this stage.
  assert.match(readFileSync(join(ROOT, 'bin/mlgate.mjs'), 'utf8'), /dist\/services\/cli\/main\.js/);
});

/** The relative imports of a source file (static `import ... from './x'` and `import('./x')`). */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => join(dirname(file), s));
}

test('Dockerfile: the build stage (the compose tools image) holds every file its services run, and the build emits what `mlgate demo` imports', () => {
  const df = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const build = df.split(/^FROM /m).find((s) => / AS build\b/.test(s.split('\n')[0]!))!;
  // `COPY src dest` into /src (WORKDIR): what the stage holds, relative to the checkout.
  const copied = [...build.matchAll(/^COPY (?!--)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
  const inImage = (file: string) => copied.some((c) => { const rel = relative(ROOT, file); return rel === c || rel.startsWith(`${c.replace(/\/$/, '')}/`); });
  const tools = Object.entries(compose().services).filter(([, s]) => s.build?.target === 'build');
  assert.ok(tools.length >= 2, 'the stand-in models and the load generator run from the build stage');
  for (const [name, s] of tools) {
    const script = (s.entrypoint ?? []).find((a) => /\.(m?js|ts)$/.test(a));
    assert.ok(script, `${name}: runs a script`);
    // Every file the script reaches through relative imports must be in the stage.
    const seen = new Set<string>();
    const queue = [join(ROOT, script)];
    while (queue.length) {
      const f = queue.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      assert.ok(existsSync(f), `${name}: ${relative(ROOT, f)} exists`);
      assert.ok(inImage(f), `${name}: ${relative(ROOT, f)} is imported by ${script} but the build stage does not COPY it`);
      queue.push(...relativeImports(f));
    }
  }
  // `mlgate demo` runs from dist/ in the package and the image: the build must compile demo/.
  const cliDemo = join(ROOT, 'services/cli/commands/demo.ts');
  const outside = relativeImports(cliDemo).filter((f) => !relative(ROOT, f).startsWith('services/'));
  const buildCfg = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  for (const f of outside) {
    const top = relative(ROOT, f).split('/')[0]!;
    assert.ok(buildCfg.include.includes(top), `tsconfig.build.json compiles ${top}/ (services/cli/commands/demo.ts imports ${relative(ROOT, f)})`);
    assert.ok(inImage(f), `the build stage copies ${top}/`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  for (const top of new Set(outside.map((f) => relative(ROOT, f).split('/')[0]!))) {
    assert.ok(pkg.files.some((p) => p.replace(/\/$/, '') === `dist/${top}`), `package.json files ships dist/${top}/`);
  }
});
