/**
 * deploy/k8s offline: `kubectl kustomize` renders each overlay; every object is checked against
 * the Kubernetes OpenAPI schemas (kubernetes-models' validate()); then what schemas cannot see:
 * probes and scrape annotations on the ports the config makes each service listen on, the HPA
 * and the PDBs select the right pods, the controller runs two replicas, every ConfigMap and
 * Secret a pod reads exists (dev; production's Secret is created out of band), and the config
 * is valid for each service with the environment its pods get. Not checked: that a cluster
 * accepts them (no API server here), admission policies, or the images.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../services/core/config.ts';
import { AuditProcessConfig } from '../../services/audit/config.ts';
import { ControllerProcessConfig } from '../../services/controller/service/config.ts';
import { GatewayProcessConfig } from '../../services/gateway/main.ts';
import { IngesterServiceConfig } from '../../services/ingester/main.ts';
import { ROOT } from '../cli/helpers.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: any; data?: Record<string, string> };

function kubectl(t: TestContext): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(':')) if (existsSync(join(dir, 'kubectl'))) return join(dir, 'kubectl');
  const msg = 'kubectl is not installed (apt-get install kubernetes-client)';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${msg}`);
  t.skip(msg);
  return undefined;
}

function render(bin: string, overlay: string): Obj[] {
  const text = execFileSync(bin, ['kustomize', join(ROOT, 'deploy/k8s/overlays', overlay)], { encoding: 'utf8' });
  const objs = parseAllDocuments(text).map((d) => d.toJS() as Obj);
  // kustomize folds long base64 Secret values over lines; the API server's decoder skips the
  // newlines, the schema's "byte" format does not: unfold them as the server reads them.
  for (const o of objs) if (o.kind === 'Secret') for (const k of Object.keys(o.data ?? {})) o.data![k] = o.data![k]!.replace(/\s+/g, '');
  return objs;
}

/** Validates one object against its kind's schema; throws naming the field. */
async function validate(o: Obj): Promise<void> {
  const mod = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, new (v: unknown) => { validate(): void }>;
  const Model = mod[o.kind];
  assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

const find = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} is missing`);
  return o;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const container = (d: Obj) => d.spec.template.spec.containers[0];
const portOf = (d: Obj, name: string | number) => (typeof name === 'number' ? name : container(d).ports.find((p: { name: string }) => p.name === name)?.containerPort);

/** The environment a pod's container gets: its ConfigMaps and Secrets (envFrom), then env (with $(VAR) expanded). */
function podEnv(objs: Obj[], d: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container(d).envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const src = objs.find((o) => o.kind === (from.configMapRef ? 'ConfigMap' : 'Secret') && o.metadata.name === ref.name);
    assert.ok(src, `${d.metadata.name} reads ${from.configMapRef ? 'ConfigMap' : 'Secret'} ${ref.name}, which the overlay does not create`);
    for (const [k, v] of Object.entries(src.data ?? {})) env[k] = from.secretRef ? Buffer.from(v, 'base64').toString('utf8') : v;
  }
  for (const e of container(d).env ?? []) env[e.name] = e.value !== undefined ? String(e.value).replace(/\$\((\w+)\)/g, (_, n: string) => env[n] ?? '') : `${d.metadata.name}-pod-0`;
  return env;
}

test('kustomize renders both overlays; every object passes the Kubernetes schema', async (t) => {
  const bin = kubectl(t);
  if (!bin) return;
  for (const overlay of ['dev', 'production']) {
    const objs = render(bin, overlay);
    assert.ok(objs.length >= 14, `${overlay}: ${objs.length} objects`);
    for (const o of objs) {
      await assert.doesNotReject(validate(o), `${overlay}: ${o.kind} ${o.metadata.name}`);
      assert.equal(o.metadata.namespace, overlay === 'dev' ? 'mlgate-dev' : 'mlgate', `${o.kind} ${o.metadata.name} namespace`);
    }
  }
  // The schema check does reject a broken object.
  const gw = structuredClone(find(render(bin, 'dev'), 'Deployment', 'mlgate-gateway'));
  container(gw).ports[0].containerPort = 'http';
  await assert.rejects(validate(gw), /containerPort/);
});

test('probes, scrape annotations, HPA, PDBs and replicas fit the config the pods load', async (t) => {
  const bin = kubectl(t);
  if (!bin) return;
  const objs = render(bin, 'dev');
  const gw = find(objs, 'Deployment', 'mlgate-gateway');
  const ing = find(objs, 'Deployment', 'mlgate-ingester');
  const ctl = find(objs, 'Deployment', 'mlgate-controller');
  const aud = find(objs, 'Deployment', 'mlgate-audit');
  const configFile = join(ROOT, 'deploy/k8s/base/mlgate.yml');
  const gwCfg = loadConfig(GatewayProcessConfig, configFile, podEnv(objs, gw));
  const ingCfg = loadConfig(IngesterServiceConfig, configFile, podEnv(objs, ing));
  const ctlCfg = loadConfig(ControllerProcessConfig, configFile, podEnv(objs, ctl));
  const audCfg = loadConfig(AuditProcessConfig, configFile, podEnv(objs, aud));
  loadConfig(IngesterServiceConfig, configFile, podEnv(objs, find(objs, 'Job', 'mlgate-migrate')));
  assert.equal(gwCfg.gateway.id, 'mlgate-gateway-pod-0', 'each gateway pod names itself');
  assert.equal(ctlCfg.controller.instanceId, 'mlgate-controller-pod-0', 'each controller pod names itself');
  assert.equal(gwCfg.telemetry.topic, ingCfg.ingester.topic);

  // The config mounted at the path the args name, from the generated ConfigMap.
  for (const d of [gw, ing, ctl, aud]) {
    assert.deepEqual(container(d).args.slice(-2), ['--config', '/etc/mlgate/mlgate.yml']);
    const vol = d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'config');
    assert.ok(vol.configMap.name.startsWith('mlgate-config-'), 'the generated (hashed) ConfigMap');
    find(objs, 'ConfigMap', vol.configMap.name);
  }

  // Probes and scrape annotations on the ports the config listens on.
  assert.equal(portOf(gw, container(gw).readinessProbe.httpGet.port), gwCfg.gateway.port);
  assert.equal(portOf(gw, container(gw).livenessProbe.httpGet.port), gwCfg.gateway.admin.port);
  assert.equal(container(gw).readinessProbe.httpGet.path, '/healthz');
  assert.equal(portOf(ing, container(ing).readinessProbe.httpGet.port), ingCfg.ingester.http.port);
  assert.equal(portOf(ctl, container(ctl).readinessProbe.httpGet.port), ctlCfg.controller.port);
  assert.equal(portOf(aud, container(aud).readinessProbe.tcpSocket.port), audCfg.audit.port);
  for (const [d, port] of [[gw, gwCfg.gateway.admin.port], [ing, ingCfg.ingester.http.port], [ctl, ctlCfg.controller.port]] as const) {
    const a = d.spec.template.metadata.annotations;
    assert.equal(a['prometheus.io/scrape'], 'true', d.metadata.name);
    assert.equal(Number(a['prometheus.io/port']), port, `${d.metadata.name} is scraped where /metrics is served`);
    assert.equal(a['prometheus.io/path'], '/metrics');
  }
  for (const d of [gw, ing, ctl, aud]) {
    const c = container(d);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, `${d.metadata.name} resources`);
    assert.equal(d.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${d.metadata.name} selects its pods`);
  }

  // Services, HPA and PDBs select the right pods.
  for (const [svc, d] of [['mlgate-gateway', gw], ['mlgate-controller', ctl], ['mlgate-audit', aud]] as const) {
    const s = find(objs, 'Service', svc);
    assert.ok(matches(s.spec.selector, d.spec.template.metadata.labels), `Service ${svc}`);
    for (const p of s.spec.ports) assert.ok(portOf(d, p.targetPort), `Service ${svc} port ${p.name} targets a container port`);
  }
  const hpa = find(objs, 'HorizontalPodAutoscaler', 'mlgate-gateway');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'mlgate-gateway' });
  for (const [pdb, d] of [['mlgate-gateway', gw], ['mlgate-controller', ctl], ['mlgate-ingester', ing]] as const) {
    assert.ok(matches(find(objs, 'PodDisruptionBudget', pdb).spec.selector.matchLabels, d.spec.template.metadata.labels), `PDB ${pdb}`);
  }
  assert.equal(ctl.spec.replicas, 2, 'two controllers: one leads, one stands by');
  const prod = render(bin, 'production');
  assert.equal(find(prod, 'Deployment', 'mlgate-controller').spec.replicas, 2);
  assert.ok(!prod.some((o) => o.kind === 'Secret'), 'production creates no Secret: it comes from outside the repository');
  assert.match(container(find(prod, 'Deployment', 'mlgate-gateway')).image, /^registry\.example\.com\/mlgate:\d+\.\d+\.\d+$/);
});
