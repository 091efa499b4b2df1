// Every PromQL expression of the dashboards and of the rule files, evaluated by a real Prometheus
// (Debian's package) that scrapes the running services, as deploy/prometheus.yml names them: a
// gateway (stand-in model versions, Kafka telemetry, routing from the Kafka control topic), an
// ingester (Kafka to embedded ClickHouse) and a canary controller running a rollout of the
// gateway's canary over that ClickHouse and publishing its weights to the gateway. The rules of
// alerts/ are loaded.
//
// For each expression:
// - Prometheus parses and evaluates it (a parse or type error fails the query);
// - every metric it selects is exported by a running service (it has series, or at least its
//   HELP/TYPE metadata when its labelled series appear only once something happens, like insert
//   failures) or recorded by a rule that produced series;
// - every label it matches on or groups by exists on that metric's series;
// - dashboard panels and recording rules return series with a finite value (the traffic makes
//   errors, shadow copies, skipped shadows and a dead letter happen). Alert expressions are
//   normally false, so they need not return anything: the checks above cover what they read.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { silentLogger } from '../../services/core/log.ts';
import { createControlChannel } from '../../services/routing/channel-factory.ts';
import { ControllerProcessConfig } from '../../services/controller/service/config.ts';
import { startControllerProcess } from '../../services/controller/service/main.ts';
import { runGateway } from '../../services/gateway/main.ts';
import { IngesterServiceConfig, startIngesterService } from '../../services/ingester/main.ts';
import { chdbPath, needKafka, testKafka, uniqueName, withTopics } from '../support/infra.ts';
import { startStandIn } from '../support/upstream.ts';
import { expandPromql, parseLabelValues, type PromBuiltins } from './grafana.ts';
import { promqlRefs } from './promql.ts';
import { startPrometheus, type TestPrometheus } from './prometheus.ts';
import { PROMETHEUS, cleanupStack, dashboardQueries, loadDashboards, loadRules, needTool } from './support.ts';

const BUILTINS: PromBuiltins = { interval: '2s', rateInterval: '10s', range: '2m' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROLLOUT = 'sentiment-v2';

/** One expression to check. */
interface Expr {
  where: string;
  expanded: string;
  /** Dashboard panels and recording rules must return series; alerts need not. */
  mustReturn: boolean;
}

function collectExpressions(vars: Record<string, string[]>): { exprs: Expr[]; labelValues: Array<{ where: string; selector: string; label: string }> } {
  const exprs: Expr[] = [];
  const labelValues: Array<{ where: string; selector: string; label: string }> = [];
  for (const { json: d } of loadDashboards()) {
    for (const q of dashboardQueries(d).filter((x) => x.datasource === PROMETHEUS)) {
      const where = `${d.uid} ${q.where}`;
      if (q.kind === 'variable') {
        const lv = parseLabelValues(q.text);
        assert.ok(lv?.selector, `${where}: only label_values(metric, label) variables are supported, got ${q.text}`);
        labelValues.push({ where, selector: lv.selector, label: lv.label });
        continue;
      }
      const expanded = expandPromql(q.text, vars, BUILTINS, where);
      exprs.push({ where, expanded, mustReturn: true });
    }
  }
  for (const r of loadRules()) {
    exprs.push({ where: `${r.file} ${r.record ? `record ${r.record}` : `alert ${r.alert}`}`, expanded: r.expr, mustReturn: Boolean(r.record) });
  }
  return { exprs, labelValues };
}

const finite = (samples: Array<{ value: [number, string] }>) => samples.some((s) => Number.isFinite(Number(s.value[1])));

/** Polls until every expression that must return series does (with a finite value); returns the ones that never did. */
async function waitForSeries(prom: TestPrometheus, exprs: Expr[], timeoutMs: number): Promise<Array<{ e: Expr; why: string }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing: Array<{ e: Expr; why: string }> = [];
    for (const e of exprs) {
      try {
        if (!finite(await prom.query(e.expanded))) missing.push({ e, why: 'no series with a finite value' });
      } catch (err) {
        missing.push({ e, why: (err as Error).message });
      }
    }
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await sleep(1000);
  }
}

/** Series of each metric, cached. */
function seriesCache(prom: TestPrometheus): (name: string) => Promise<Array<Record<string, string>>> {
  const cache = new Map<string, Promise<Array<Record<string, string>>>>();
  return (name) => {
    let p = cache.get(name);
    if (!p) cache.set(name, (p = prom.series(name)));
    return p;
  };
}

const FAMILY_SUFFIX = /_(bucket|sum|count)$/;

/** Checks one expression's selectors and labels; returns the metrics accepted on metadata alone. */
async function checkExpression(prom: TestPrometheus, series: (n: string) => Promise<Array<Record<string, string>>>, e: Expr): Promise<string[]> {
  await prom.query(e.expanded); // parses and evaluates, or throws
  const refs = promqlRefs(e.expanded);
  const metadataOnly: string[] = [];
  const labelsSeen = new Set<string>();
  for (const s of refs.selectors) {
    const name = s.name!;
    const all = await series(name);
    if (all.length === 0) {
      const declared = (await prom.hasMetadata(name)) || (FAMILY_SUFFIX.test(name) && (await prom.hasMetadata(name.replace(FAMILY_SUFFIX, ''))));
      assert.ok(declared, `${e.where}: metric ${name} is not exported by any scraped service nor recorded by a rule`);
      metadataOnly.push(name);
      continue;
    }
    const labels = new Set(all.flatMap((x) => Object.keys(x)));
    for (const l of labels) labelsSeen.add(l);
    for (const m of s.matchers) {
      assert.ok(labels.has(m.label), `${e.where}: ${name} has no label ${m.label} (it has ${[...labels].sort().join(', ')})`);
    }
  }
  if (labelsSeen.size > 0) {
    for (const l of refs.groupingLabels) assert.ok(labelsSeen.has(l), `${e.where}: groups or matches on ${l}, which none of its metrics carries`);
  }
  return metadataOnly;
}

test('every PromQL expression of the dashboards and rules runs on a real Prometheus scraping the running services', async (t: TestContext) => {
  const binary = needTool(t, 'prometheus', 'prometheus');
  if (!binary) return;
  const brokers = await needKafka(t);
  if (!brokers) return;
  const defer = cleanupStack(t); // before withTopics: services stop before their topics go
  const topics = await withTopics(t, brokers, { events: { partitions: 2 }, dlq: {}, control: { compacted: true } });
  const database = uniqueName('obs');
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-obs-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));

  // Two stand-in model versions and a slow shadow (more copies than shadowMaxInFlight: skips).
  // Both arms fail 3 % of requests alike: errors to count, and no reason to roll back, so the
  // rollout keeps ticking in its first step (minDurationS) for the whole test.
  const v1 = await startStandIn({ name: 'v1', keep: 100, errorRate: 0.03, errorStatus: 500 });
  const v2 = await startStandIn({ name: 'v2', keep: 100, errorRate: 0.03, errorStatus: 500 });
  const v3 = await startStandIn({ name: 'v3', keep: 100, delayMs: 150 });
  for (const m of [v1, v2, v3]) defer(() => m.close());

  // The gateway process as `mlgate gateway --config` runs it: Kafka telemetry, metrics on the admin port.
  const configFile = join(dir, 'gateway.yml');
  writeFileSync(configFile, stringifyYaml({
    dataDir: join(dir, 'gateway'), log: { level: 'error' },
    kafka: { brokers, clientId: 'mlgate-obs-test' },
    telemetry: { topic: topics.events, partitions: 2, hashing: { key: 'observability-test-hash-key-0123' } },
    gateway: {
      id: 'gw-obs', host: '127.0.0.1', port: 0, shadowMaxInFlight: 1,
      admin: { host: '127.0.0.1', port: 0, token: 'observability-admin-token-0123' },
      models: {
        sentiment: {
          versions: { v1: { targets: [v1.url] }, v2: { targets: [v2.url] }, v3: { targets: [v3.url] } },
          weights: { v1: 70, v2: 30 }, fallback: 'v1', shadow: { version: 'v3', percent: 100 },
          prediction: { label: 'label', score: 'score' },
        },
      },
    },
  }));
  const control = createControlChannel({ kafka: { brokers, clientId: 'mlgate-obs-test' }, topic: topics.control, logger: silentLogger() });
  defer(() => control.close());
  const gw = await runGateway({ configFile, env: {}, control });
  defer(() => gw.stop());
  const gwAdmin = new URL(gw.gateway.adminUrl).host;

  // The ingester: Kafka consumer group into an embedded ClickHouse database.
  const ingester = await startIngesterService(IngesterServiceConfig.parse({
    dataDir: join(dir, 'ingester'), log: { level: 'error' }, kafka: { brokers, clientId: 'mlgate-obs-test' },
    warehouse: { engine: 'embedded', path: chdbPath(), database },
    ingester: {
      topic: topics.events, dlqTopic: topics.dlq, groupId: uniqueName('g-obs'), lagIntervalMs: 500,
      batch: { lingerMs: 200, minBytes: 1 }, http: { host: '127.0.0.1', port: 0 },
    },
  }), silentLogger());
  defer(() => ingester.stop());

  // The canary controller: a rollout of v2 over the ingester's ClickHouse database, ticking every second.
  const controller = await startControllerProcess(ControllerProcessConfig.parse({
    dataDir: join(dir, 'controller'), log: { level: 'error' }, kafka: { brokers, clientId: 'mlgate-obs-test' },
    warehouse: { engine: 'embedded', path: chdbPath(), database },
    controller: {
      instanceId: 'obs-test', host: '127.0.0.1', port: 0, loopMs: 200, controlTopic: topics.control, leader: { mode: 'always' },
      tickOverride: { intervalS: 1, lagS: 1 },
      rollouts: [{ id: ROLLOUT, model: 'sentiment', stable: 'v1', canary: 'v2', fallback: 'v1', stepDefaults: { minDurationS: 600, minSamples: 20 } }],
    },
  }), silentLogger());
  defer(() => controller.stop());

  const targets = {
    'mlgate-gateway': gwAdmin, 'mlgate-ingester': `127.0.0.1:${ingester.port}`, 'mlgate-controller': new URL(controller.controller.url).host,
  };
  const prom = await startPrometheus(defer, binary, targets);

  // Traffic until the checks are done: 3 clients.
  let stop = false;
  let sent = 0;
  const client = async () => {
    while (!stop) {
      try {
        const res = await fetch(`${gw.gateway.url}/v1/models/sentiment/predict`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `great, write to me at someone${sent}@example.com` }),
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer();
        sent++;
      } catch { /* counted by the gateway either way */ }
      await sleep(15);
    }
  };
  const clients = [client(), client(), client()];
  try {
    // One message that is not JSON: the ingester sends it to the dead-letter topic.
    const producer = testKafka(brokers, 'mlgate-obs-test').producer();
    await producer.connect();
    await producer.send({ topic: topics.events, messages: [{ value: 'not json at all' }] });
    await producer.disconnect();

    const gateways = await (async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const s = await prom.series('mlgate_gateway_inflight_requests');
        if (s.length > 0) return [...new Set(s.map((x) => x.gateway!))];
        assert.ok(Date.now() < deadline, `the gateway was never scraped:\n${prom.logTail()}`);
        await sleep(500);
      }
    })();
    const vars = { model: ['sentiment'], version: ['v1', 'v2', 'v3'], gateway: gateways, rollout: [ROLLOUT] };
    const { exprs, labelValues } = collectExpressions(vars);
    assert.deepEqual(prom.droppedJobs, [], 'every mlgate job of deploy/prometheus.yml is scraped');
    const runnable = exprs;
    const missing = await waitForSeries(prom, runnable.filter((e) => e.mustReturn), 120_000);

    const series = seriesCache(prom);
    const metadataOnly = new Set<string>();
    for (const e of runnable) {
      await t.test(e.where, async () => {
        for (const m of await checkExpression(prom, series, e)) metadataOnly.add(m);
      });
    }
    for (const lv of labelValues) {
      await t.test(lv.where, async () => {
        const all = await series(lv.selector);
        assert.ok(all.some((s) => lv.label in s), `${lv.where}: ${lv.selector} has no label ${lv.label}`);
      });
    }
    assert.deepEqual(missing.map((m) => `${m.e.where}: ${m.why}\n    ${m.e.expanded}`), [], 'expressions that never returned series');
    t.diagnostic(`${runnable.length} expressions checked (${runnable.filter((e) => e.mustReturn).length} returned series) after ${sent} requests`);
    const phase = (await prom.query('mlgate_controller_rollout_phase == 1')).map((x) => `${x.metric.rollout}: ${x.metric.phase}`);
    const weights = (await prom.query('mlgate_gateway_version_weight')).map((x) => `${x.metric.version}=${x.value[1]}`).sort();
    t.diagnostic(`rollout ${phase.join(', ')}; gateway weights ${weights.join(' ')}`);
    t.diagnostic(`metrics exported without samples yet (accepted on their HELP/TYPE): ${[...metadataOnly].sort().join(', ') || 'none'}`);

  } finally {
    stop = true;
    await Promise.all(clients);
  }
});
