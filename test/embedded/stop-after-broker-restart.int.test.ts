/**
 * `mlgate start` with Kafka (`KAFKA_BROKERS`, as a user switches embedded mode to a broker) must
 * stop cleanly after the broker was SIGKILLed and restarted under load. The bug this guards: the
 * log said "stopped" but the process stayed up past 90 s with orphaned kafkajs connections (the
 * gateway's producer and the ingester's consumer) until a second SIGINT. The broker is a private
 * one behind a proxy (never the shared broker).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needKafka } from '../support/infra.ts';
import { startFaultBroker, type FaultBroker } from '../telemetry/helpers/fault-broker.ts';
import { SAMPLE, freePort, start } from './spawn-start.ts';
import { tempDir, until } from './util.ts';

const BROKER_PORT = 29592;
const PROXY_PORT = 29590;
let broker: FaultBroker | undefined;

before(async () => {
  broker = await startFaultBroker(BROKER_PORT, PROXY_PORT);
});
after(async () => {
  await broker?.destroy();
});

/** Sum of a metric's samples (any labels matching `labels`) in Prometheus text. */
function sample(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('mlgate start with Kafka: after a broker SIGKILL and restart under load, SIGINT stops the process within its shutdown timeout', async (t) => {
  if (!(await needKafka(t)) || !broker) return;
  const dir = tempDir(t, 'stop-after-restart');
  const [p1, p2] = [await freePort(), await freePort()];
  const configFile = join(dir, 'mlgate.yaml');
  writeFileSync(configFile, readFileSync(SAMPLE, 'utf8').replaceAll('9101', String(p1)).replaceAll('9102', String(p2)));
  const s = await start(t, configFile, join(dir, 'data'), { KAFKA_BROKERS: broker.address, MLGATE_CFG__telemetry__stallMs: '300' });
  const gateway = s.url('gateway');
  const metricsLine = /^ {2}metrics\s+(.*)$/m.exec(s.out())?.[1] ?? '';
  const [gatewayMetrics, ingesterMetrics] = metricsLine.split(/\s+/).filter((u) => u.startsWith('http'));
  assert.ok(gatewayMetrics && ingesterMetrics, `metrics URLs in the banner: ${metricsLine}`);
  const scrape = async (url: string) => (await fetch(url)).text();
  const telemetry = async (result: string) => sample(await scrape(gatewayMetrics), 'mlgate_telemetry_events_total', `result="${result}"`);
  const rows = async () => sample(await scrape(ingesterMetrics), 'mlgate_ingester_rows_total');

  let stop = false;
  let answered = 0;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      const res = await fetch(`${gateway}/v1/models/sentiment/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `review ${i}: works well` }) });
      await res.arrayBuffer();
      if (res.status === 200) answered++;
      await new Promise((r) => setTimeout(r, 10)); // pacing of the load, not synchronisation
    }
  })();

  await until('events in Kafka and rows in ClickHouse', async () => (await telemetry('sent')) >= 100 && (await rows()) >= 50, 120_000, 200);
  await broker.kill();
  await until('the gateway to spill', async () => (await telemetry('spilled')) > 0, 60_000, 200);
  await broker.start();
  const rowsAfterRestart = await rows();
  await until('the spill replayed and the ingester consuming again', async () => (await telemetry('replayed')) > 0 && (await rows()) > rowsAfterRestart + 50, 180_000, 250);
  stop = true;
  await load;
  assert.ok(answered > 0);

  const exited = once(s.child, 'exit');
  const t0 = Date.now();
  s.child.kill('SIGINT');
  const deadline = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000).unref());
  const outcome = await Promise.race([exited, deadline]);
  const ms = Date.now() - t0;
  assert.notEqual(outcome, 'hung', `still running 30 s after SIGINT (the shutdown timeout is 10 s); stderr tail:\n${s.err().slice(-2000)}`);
  const [code] = outcome as [number | null];
  assert.equal(code, 0, `exit code ${code}; stderr tail:\n${s.err().slice(-2000)}`);
  t.diagnostic(`stopped ${ms} ms after SIGINT; ${answered} requests answered`);
});
