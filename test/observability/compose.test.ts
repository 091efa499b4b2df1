// The docker-compose stack without a Docker engine: docker-compose (Debian's 1.29) validates the
// file; the resolved file is then checked against the repository: every service has a
// healthcheck, mounts and scripts exist, deploy/mlgate.yml is valid for each service's own config
// schema with the environment compose gives it, and the ports that Prometheus scrapes, that the
// healthchecks probe, that the gateway forwards to and that Grafana reads are the ones the
// services listen on. promtool validates deploy/prometheus.yml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../services/core/config.ts';
import { ControllerProcessConfig } from '../../services/controller/service/config.ts';
import { RolloutSpecSchema } from '../../services/controller/rollout/spec.ts';
import { GatewayProcessConfig } from '../../services/gateway/main.ts';
import { IngesterServiceConfig } from '../../services/ingester/main.ts';
import { ROOT, needTool, run } from './support.ts';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: Array<string | { type: string; source: string; target: string }>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  ports?: Array<string | { published: number; target: number }>;
}

const MLGATE = ['gateway', 'ingester', 'controller', 'model-v1', 'model-v2', 'loadgen'];
const REQUIRED = [...MLGATE, 'kafka', 'clickhouse', 'prometheus', 'grafana'];
const CONFIG = join(ROOT, 'deploy/mlgate.yml');

async function resolvedCompose(t: Parameters<typeof needTool>[0]): Promise<Record<string, ComposeService> | undefined> {
  const bin = needTool(t, 'docker-compose', 'docker-compose');
  if (!bin) return undefined;
  const r = await run(bin, ['-f', 'docker-compose.yml', 'config']);
  assert.equal(r.code, 0, `docker-compose config failed:\n${r.stderr}`);
  return (parseYaml(r.stdout) as { services: Record<string, ComposeService> }).services;
}

/** The port a healthcheck probes (`http://127.0.0.1:PORT/...`). */
const probedPort = (s: ComposeService) => Number(/127\.0\.0\.1:(\d+)\//.exec(s.healthcheck!.test.join(' '))?.[1]);

test('docker-compose config -q accepts the stack', async (t) => {
  const bin = needTool(t, 'docker-compose', 'docker-compose');
  if (!bin) return;
  const r = await run(bin, ['-f', 'docker-compose.yml', 'config', '-q']);
  assert.equal(r.code, 0, `docker-compose config -q failed:\n${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), /^name:/m, 'the top-level name: key breaks docker-compose 1.29');
});

test('every service is there with a healthcheck; mlgate services run existing commands from the Dockerfile image; mounts exist', async (t) => {
  const services = await resolvedCompose(t);
  if (!services) return;
  for (const name of REQUIRED) assert.ok(services[name], `service ${name} is missing`);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.healthcheck?.test?.length, `service ${name} has no healthcheck`);
    for (const v of s.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0]! : v.source;
      if (source.startsWith('/')) assert.ok(existsSync(source), `service ${name} mounts ${source}, which does not exist`);
    }
  }
  for (const name of MLGATE) {
    const s: ComposeService = services[name]!;
    assert.equal(s.build?.dockerfile, 'Dockerfile', `${name} is built from the Dockerfile`);
    if (s.entrypoint) {
      const script = s.entrypoint.find((a: string) => /\.(mjs|ts)$/.test(a));
      assert.ok(script && existsSync(join(ROOT, script)), `${name} runs ${s.entrypoint.join(' ')}: script missing`);
    } else {
      const cmd = s.command![0]!;
      assert.ok(existsSync(join(ROOT, `services/cli/commands/${cmd}.ts`)), `${name} runs 'mlgate ${cmd}', which the CLI does not have`);
      assert.deepEqual(s.command!.slice(1), ['--config', '/etc/mlgate/mlgate.yml']);
    }
  }
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /^FROM node:20-slim/m);
  assert.match(dockerfile, /npm ci/);
  assert.match(dockerfile, /ENTRYPOINT \["node", "bin\/mlgate\.mjs"\]/);
});

test('deploy/mlgate.yml is valid for the gateway, the ingester and the controller with the environment compose gives them', async (t) => {
  const services = await resolvedCompose(t);
  if (!services) return;
  const env = (name: string) => Object.freeze({ ...services[name]!.environment });
  const gw = loadConfig(GatewayProcessConfig, CONFIG, env('gateway'));
  const ing = loadConfig(IngesterServiceConfig, CONFIG, env('ingester'));
  const ctl = loadConfig(ControllerProcessConfig, CONFIG, env('controller'));
  assert.deepEqual(gw.kafka.brokers, ['kafka:9092']);
  assert.equal(ing.warehouse.engine, 'server');
  assert.equal(ing.warehouse.url, 'http://clickhouse:8123');
  assert.equal(ctl.warehouse.database, 'mlgate');
  assert.ok(ctl.controller.tokens.length > 0, 'the controller API has a token');
  assert.equal(gw.telemetry.topic, ing.ingester.topic, 'the ingester reads the topic the gateway writes');
  // Each service listens where its healthcheck (and Prometheus) looks, on every interface.
  assert.equal(probedPort(services.gateway!), gw.gateway.admin.port);
  assert.equal(gw.gateway.admin.host, '0.0.0.0');
  assert.equal(gw.gateway.host, '0.0.0.0');
  assert.equal(probedPort(services.ingester!), ing.ingester.http.port);
  assert.equal(ing.ingester.http.host, '0.0.0.0');
  assert.equal(probedPort(services.controller!), ctl.controller.port);
  assert.equal(ctl.controller.host, '0.0.0.0');
  // The gateway forwards to the stand-ins where they listen.
  for (const [, m] of Object.entries(gw.gateway.models)) {
    for (const v of Object.values(m.versions)) {
      for (const target of v.targets) {
        const u = new URL(target.url);
        const s: ComposeService | undefined = services[u.hostname];
        assert.ok(s, `gateway target ${target.url} is not a compose service`);
        assert.equal(probedPort(s), Number(u.port), `gateway target ${target.url} vs the service's port`);
      }
    }
  }
  // The rollout names the gateway's model and versions.
  assert.ok(ctl.controller.rollouts.length > 0, 'the stack runs a rollout');
  for (const raw of ctl.controller.rollouts) {
    const spec = RolloutSpecSchema.parse(raw);
    const m = gw.gateway.models[spec.model];
    assert.ok(m, `rollout ${spec.id}: model ${spec.model} is not a gateway model`);
    for (const v of [spec.stable, spec.canary]) assert.ok(v in m.versions, `rollout ${spec.id}: ${v} is not a version of ${spec.model}`);
  }
  // The load generator sends to the gateway's data plane.
  const lg = services.loadgen!.command!;
  assert.equal(new URL(lg[lg.indexOf('--url') + 1]!).port, String(gw.gateway.port));
});

test('Prometheus scrapes every mlgate service where it serves /metrics and loads the alert rules; promtool accepts its config', async (t) => {
  const services = await resolvedCompose(t);
  if (!services) return;
  const promtool = needTool(t, 'promtool', 'prometheus');
  if (!promtool) return;
  const checked = await run(promtool, ['check', 'config', 'deploy/prometheus.yml']);
  assert.equal(checked.code, 0, `promtool check config failed:\n${checked.stdout}\n${checked.stderr}`);
  const cfg = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus.yml'), 'utf8')) as {
    rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const jobs = new Map(cfg.scrape_configs.map((sc) => [sc.job_name, sc.static_configs.flatMap((x) => x.targets)]));
  for (const [job, service] of [['mlgate-gateway', 'gateway'], ['mlgate-ingester', 'ingester'], ['mlgate-controller', 'controller']] as const) {
    const targets = jobs.get(job);
    assert.ok(targets?.length, `no scrape job ${job}`);
    for (const target of targets) {
      const [host, port] = target.split(':');
      assert.equal(host, service, `${job} scrapes ${target}`);
      assert.equal(Number(port), probedPort(services[service]!), `${job} scrapes ${target}, the service listens on ${probedPort(services[service]!)}`);
    }
  }
  const mount = (services.prometheus!.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`)).find((v) => v.includes('/alerts:'));
  assert.ok(mount, 'prometheus mounts alerts/');
  const target = mount.split(':')[1]!;
  assert.deepEqual(cfg.rule_files, [`${target}/*.rules.yml`]);
});

test('Grafana is provisioned with the dashboards and both data sources, anonymous viewers allowed', async (t) => {
  const services = await resolvedCompose(t);
  if (!services) return;
  const g = services.grafana!;
  const env = g.environment ?? {};
  assert.equal(env.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  assert.equal(env.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer');
  // The ClickHouse plugin is baked into the image at a pinned version (not downloaded at start).
  assert.equal(env.GF_INSTALL_PLUGINS, undefined, 'no plugin download at container start');
  assert.ok(g.build?.context, 'grafana is built from a Dockerfile of its own');
  const dockerfile = readFileSync(resolve(ROOT, g.build.context, g.build.dockerfile ?? 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /plugins install grafana-clickhouse-datasource \d+\.\d+\.\d+/);
  const mounts = (g.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]));
  const into = (dir: string) => mounts.find(([src]) => src === join(ROOT, dir).replace(/\/$/, ''))?.[1];
  assert.equal(into('dashboards/provisioning'), '/etc/grafana/provisioning');
  const provider = parseYaml(readFileSync(join(ROOT, 'dashboards/provisioning/dashboards/mlgate.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
  assert.equal(into('dashboards'), provider.providers[0]!.options.path, 'the dashboards are mounted where the provider reads them');
  assert.ok(existsSync(join(ROOT, 'dashboards', env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!.split('/').pop()!)), 'home dashboard exists');
  const ds = parseYaml(readFileSync(join(ROOT, 'dashboards/provisioning/datasources/mlgate.yml'), 'utf8')) as {
    datasources: Array<{ type: string; url?: string; jsonData?: { host?: string; port?: number } }>;
  };
  const prom = ds.datasources.find((d) => d.type === 'prometheus')!;
  assert.equal(new URL(prom.url!).hostname, 'prometheus');
  assert.ok(services[new URL(prom.url!).hostname]);
  const ch = ds.datasources.find((d) => d.type === 'grafana-clickhouse-datasource')!;
  assert.equal(ch.jsonData?.host, 'clickhouse');
  assert.equal(ch.jsonData?.port, 9000);
  assert.deepEqual(Object.keys(g.depends_on ?? {}).sort(), ['clickhouse', 'prometheus']);
});
