/**
 * `gateway.workers: 2` through the real processes (`mlgate gateway` as the CLI runs it, a
 * node:cluster primary and two workers, real Kafka on 127.0.0.1): both workers take connections
 * on the one port; /metrics on the admin port sums both workers' counters and passes promtool;
 * a worker killed with SIGKILL is restarted while requests keep being answered; SIGTERM to the
 * primary drains: no request in flight fails and every answered request has its event in Kafka.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { cleanup, tempDir } from '../support/cleanup.ts';
import { needKafka, testKafka, uniqueName, waitUntil } from '../support/infra.ts';
import { startStandIn } from '../support/upstream.ts';
import { deleteTopics, readTopic, topicCount } from '../telemetry/helpers/kafka.ts';
import { freePort } from '../observability/prometheus.ts';
import { ADMIN_TOKEN, HASH_KEY, model } from './helpers.ts';

const CLI = join(import.meta.dirname, '../../services/cli/main.ts');
const PROMTOOL = '/usr/bin/promtool';

interface Cluster {
  child: ChildProcess;
  url: string;
  metricsUrl: string;
  exited: Promise<number | null>;
  /** Log lines (pino JSON) of the primary and the workers. */
  lines: Array<Record<string, unknown>>;
}

async function startCluster(t: TestContext, opts: { topic: string; upstream: string; model: string; delayed?: boolean }): Promise<Cluster> {
  const brokers = (await needKafka(t))!;
  const dir = tempDir(t, 'gw-workers');
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(dir, 'mlgate.yaml');
  writeFileSync(file, stringify({
    gateway: {
      workers: 2, port, shutdownTimeoutMs: 20_000, admin: { port: adminPort, token: ADMIN_TOKEN },
      models: { [opts.model]: model({ v1: opts.upstream }) },
    },
    telemetry: { topic: opts.topic, partitions: 2, hashing: { key: HASH_KEY } },
    kafka: { brokers }, dataDir: join(dir, 'data'), log: { level: 'info' },
  }));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MLGATE_') && !k.startsWith('KAFKA_') && !k.startsWith('CLICKHOUSE_')));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'gateway', '--config', file], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // The workers are in the primary's process group only through it: kill them by pid too.
  const lines: Array<Record<string, unknown>> = [];
  cleanup(t, () => {
    for (const l of lines) if (l.msg === 'gateway worker ready') try { process.kill(l.pid as number, 'SIGKILL'); } catch { /* gone */ }
    child.kill('SIGKILL');
  });
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    for (const line of buf.split('\n').slice(0, -1)) {
      try { lines.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON */ }
    }
    buf = buf.slice(buf.lastIndexOf('\n') + 1);
  });
  const ready = await waitUntil('the gateway cluster ready', () => lines.find((l) => l.msg === 'mlgate gateway ready'), 90_000);
  assert.equal(ready.url, `http://127.0.0.1:${port}`);
  return { child, url: ready.url as string, metricsUrl: ready.metrics_url as string, exited, lines };
}

/** Pids of the workers that said they are ready, in order. */
function workerPids(c: Cluster): number[] {
  return c.lines.filter((l) => l.msg === 'gateway worker ready').map((l) => l.pid as number);
}

/**
 * The worker slot that answers GET /healthz on a new connection, 0 when none answers in 5 s: a
 * connection the primary handed to a worker as it was killed is never answered, and undici's
 * default 300 s header timeout would hold the test that long.
 */
async function healthzWorker(url: string): Promise<number> {
  try {
    const res = await request(`${url}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
    const body = await res.body.json() as { worker?: number };
    return body.worker ?? 0;
  } catch {
    return 0;
  }
}

async function predict(pool: Agent, url: string, model: string, i: number): Promise<{ status: number; eventId: string }> {
  const res = await pool.request({
    origin: url, path: `/v1/models/${model}/predict`, method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: `request ${i}`, n: i }),
  });
  await res.body.dump();
  return { status: res.statusCode, eventId: String(res.headers['x-mlgate-event-id'] ?? '') };
}

/** The value of a sample of the aggregate, by its name and a label match (undefined when absent). */
function sample(text: string, name: string, labelMatch: RegExp): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !labelMatch.test(line)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('gateway.workers=2: both workers serve the port, /metrics sums them (promtool clean), a SIGKILLed worker is restarted', async (t) => {
  if (!(await needKafka(t))) return;
  const kafka = testKafka((await needKafka(t))!);
  const topic = uniqueName('t.gwworkers').replace(/_/g, '.');
  cleanup(t, () => deleteTopics(kafka, [topic]));
  const name = uniqueName('wk');
  const v1 = await startStandIn({ name: 'v1', t });
  const c = await startCluster(t, { topic, upstream: v1.url, model: name });
  assert.equal(workerPids(c).length, 2);

  // New connections land on both workers (node:cluster hands them out in turn).
  const seen = new Set<number>();
  await waitUntil('connections on both workers', async () => { seen.add(await healthzWorker(c.url)); return seen.has(1) && seen.has(2); }, 30_000, 0);
  seen.delete(0);
  assert.deepEqual([...seen].sort(), [1, 2]);

  // 200 requests, one connection each: the aggregate counts all of them, over both workers.
  const agent = new Agent({ pipelining: 0, keepAliveTimeout: 1 });
  cleanup(t, () => agent.close());
  for (let i = 0; i < 200; i += 20) {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, k) => predict(agent, c.url, name, i + k)));
    for (const r of rs) assert.equal(r.status, 200);
  }
  const modelLabel = new RegExp(`model="${name}".*outcome="ok"`);
  const text = await (await fetch(c.metricsUrl)).text();
  assert.equal(sample(text, 'mlgate_gateway_requests_total', modelLabel), 200, 'requests_total sums both workers');
  assert.equal(sample(text, 'mlgate_gateway_request_duration_seconds_count', new RegExp(`model="${name}"`)), 200, 'histogram counts sum too');
  assert.equal(sample(text, 'mlgate_gateway_version_weight', new RegExp(`model="${name}"`)), 100, 'a per-process gauge is not summed');
  if (existsSync(PROMTOOL)) {
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  }

  // SIGKILL worker 2 while a client keeps sending (a new connection per request): the primary
  // forks a new one, and meanwhile worker 1 takes every new connection.
  // Slot 2's pid from its own ready line: the order in which the workers became ready is
  // not the slot order.
  const second = c.lines.find((l) => l.msg === 'gateway worker ready' && l.worker === 2)?.pid as number | undefined;
  assert.ok(second, 'worker 2 said it is ready');
  // A connection the primary had handed to worker 2 as it died is never answered: a deadline
  // turns it into a failure instead of a hang.
  const killAgent = new Agent({ pipelining: 0, keepAliveTimeout: 1, headersTimeout: 10_000, bodyTimeout: 10_000, connectTimeout: 10_000 });
  cleanup(t, () => killAgent.close());
  let sending = true;
  let sent = 0;
  const failures: string[] = [];
  const load = (async () => {
    while (sending) {
      const r = await predict(killAgent, c.url, name, 1000 + sent++).catch((err: Error) => ({ status: 0, eventId: err.message }));
      if (r.status !== 200) failures.push(`${r.status} ${r.eventId}`);
    }
  })();
  process.kill(second, 'SIGKILL');
  await waitUntil('worker 2 restarted', () => workerPids(c).length === 3, 60_000);
  const again = new Set<number>();
  await waitUntil('connections on both workers again', async () => { again.add(await healthzWorker(c.url)); return again.has(1) && again.has(2); }, 30_000, 0);
  sending = false;
  await load;
  assert.ok(sent > 0);
  // Only requests on their way to the killed worker can be lost with it (in flight, or accepted for it).
  assert.ok(failures.length <= 2, `at most the requests on their way to the killed worker fail: ${failures.join(', ')}`);
  assert.ok(c.lines.some((l) => l.msg === 'gateway worker died; restarting it' && l.worker === 2));
  c.child.kill('SIGTERM');
  assert.equal(await c.exited, 0);
});

test('gateway.workers=2: SIGTERM to the primary drains both workers: no request in flight fails, every answer has its event', async (t) => {
  if (!(await needKafka(t))) return;
  const kafka = testKafka((await needKafka(t))!);
  const topic = uniqueName('t.gwdrain').replace(/_/g, '.');
  cleanup(t, () => deleteTopics(kafka, [topic]));
  const name = uniqueName('wk');
  // Slow answers: the requests are still in flight when the stop begins.
  const v1 = await startStandIn({ name: 'v1', t, delayMs: 1500 });
  const c = await startCluster(t, { topic, upstream: v1.url, model: name });
  const agent = new Agent({ pipelining: 0, keepAliveTimeout: 1 });
  cleanup(t, () => agent.close());
  const inflight = Array.from({ length: 40 }, (_, i) => predict(agent, c.url, name, i));
  await waitUntil('the requests at the upstream', () => v1.requests.length >= 40, 30_000);
  c.child.kill('SIGTERM');
  const results = await Promise.all(inflight);
  for (const r of results) assert.equal(r.status, 200, 'a request in flight at SIGTERM is answered');
  assert.equal(await c.exited, 0, 'the primary exits 0 once both workers stopped cleanly');
  const ids = results.map((r) => r.eventId);
  await waitUntil('every event in Kafka', async () => (await topicCount(kafka, topic).catch(() => 0)) >= ids.length, 30_000, 200);
  const events = await readTopic(kafka, topic, ids.length);
  assert.deepEqual(new Set(events.map((m) => (JSON.parse(m.value) as { event_id: string }).event_id)), new Set(ids));
  // Each worker stopped its gateway (drain, then its own sink flushed) before the primary exited.
  const stopped = c.lines.filter((l) => l.msg === 'gateway stopped');
  assert.equal(stopped.length, 2);
});
