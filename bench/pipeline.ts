/**
 * `npm run bench:pipeline`: Kafka → ingester → embedded ClickHouse (chdb), on the shared broker.
 *   1. Sustained ingestion: BENCH_EVENTS events produced first, then drained by the real ingester
 *      (validation, ledger, dedup-token insert, commit); events/s from its first batch to its last
 *      commit. Baselines in the same run: a bare kafkajs consumer on the same backlog (Kafka's
 *      ceiling) and inserts of pre-serialized rows with no Kafka (ClickHouse's ceiling).
 *   2. Freshness: BENCH_RATE events/s produced live for BENCH_SECONDS with the ingester running at
 *      its default batching; per event, time from its request time to the commit after its insert
 *      (the row is queryable by then): p50 and p99.
 *   3. Bytes per event on disk in `requests` after a final merge, against the JSON message size.
 * Writes bench/results/pipeline.json and prints a table. Target: ≥ 50,000 events/s.
 * Environment: BENCH_EVENTS (default 200000), BENCH_RATE (default 10000), BENCH_SECONDS (default 10),
 * MLGATE_TEST_KAFKA_BROKERS (default 127.0.0.1:19092).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WarehouseSection } from '../services/warehouse/config.ts';
import { migrate } from '../services/warehouse/migrate.ts';
import { createWarehouse, type Warehouse } from '../services/warehouse/warehouse.ts';
import { benchKafka, committed, committedAt, consumeOnly, insertOnly, produceEvents, quantile, startBenchIngester } from './pipeline/phases.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const RATE = Number(process.env.BENCH_RATE ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BROKERS = (process.env.MLGATE_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const PARTITIONS = 3;
const TARGET = 50_000;

type Row = { name: string; value: number; unit: string; baseline?: string; baselineValue?: number };
const rows: Row[] = [];

async function database(path: string, name: string): Promise<Warehouse> {
  const wh = await createWarehouse(WarehouseSection.parse({ engine: 'embedded', path, database: name }));
  await migrate(wh);
  return wh;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the live producer in its own process, as a gateway would be. */
async function produceInChild(topic: string, n: number, rate: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./pipeline/producer.ts', import.meta.url)), BROKERS.join(','), topic, String(n), String(rate)],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`live producer exited with ${String(code)}`);
}

async function main(): Promise<void> {
  const loadStart = loadavg().map((l) => Number(l.toFixed(2)));
  const kafka = benchKafka(BROKERS);
  const admin = kafka.admin();
  await admin.connect();
  const stamp = `${Date.now().toString(36)}`;
  const backlog = `bench.pipeline.backlog.${stamp}`;
  const live = `bench.pipeline.live.${stamp}`;
  await admin.createTopics({ waitForLeaders: true, topics: [backlog, live, `${backlog}.dlq`, `${live}.dlq`].map((topic) => ({ topic, numPartitions: PARTITIONS })) });
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-bench-pipeline-'));
  const chPath = join(dir, 'clickhouse');
  try {
    console.log(`producing ${EVENTS} events to ${backlog} …`);
    const jsonBytes = await produceEvents(kafka, backlog, EVENTS);

    console.log('baseline: bare kafkajs consumer …');
    const rawConsume = await consumeOnly(kafka, backlog, EVENTS, (await import('../services/ingester/config.ts')).IngesterSection.parse({}));

    console.log('baseline: inserts of pre-serialized rows, no Kafka …');
    const scratch = await database(chPath, 'bench_insert_only');
    const insertOnlyRun = await insertOnly(scratch, EVENTS, 50_000);
    await scratch.command('DROP DATABASE {db}');
    await scratch.close();

    console.log('pipeline: the ingester drains the backlog …');
    const wh = await database(chPath, 'bench_pipeline');
    const cpu0 = process.cpuUsage();
    const drain = await startBenchIngester(BROKERS, wh, backlog);
    await waitFor('the backlog to be committed', async () => (await committed(admin, drain.cfg.groupId, backlog)) >= EVENTS, 600_000);
    const lastCommit = Math.max(...[...drain.commits.values()].map((l) => l[l.length - 1]!.at));
    const drainSeconds = (lastCommit - drain.firstBatchAt()) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuMicrosPerEvent = (cpu.user + cpu.system) / EVENTS;
    await drain.ingester.stop();

    console.log(`freshness: ${RATE} events/s live for ${SECONDS} s …`);
    const fresh = await startBenchIngester(BROKERS, wh, live);
    const liveEvents = RATE * SECONDS;
    await produceInChild(live, liveEvents, RATE);
    await waitFor('the live events to be committed', async () => (await committed(admin, fresh.cfg.groupId, live)) >= liveEvents, 120_000);
    await fresh.ingester.stop();
    const liveRows = await wh.query<{ p: number; o: number; ts: number }>(
      'SELECT src_partition AS p, src_offset AS o, toUnixTimestamp64Milli(ts) AS ts FROM {db}.requests WHERE src_topic = {topic:String}', { topic: live });
    const ages = liveRows.map((r) => committedAt(fresh.commits, r.p, r.o)! - r.ts).filter(Number.isFinite).sort((a, b) => a - b);

    await wh.command('OPTIMIZE TABLE {db}.requests FINAL');
    const [disk] = await wh.query<{ bytes: number; rows: number }>(
      "SELECT sum(bytes_on_disk) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = {db:String} AND table = 'requests' AND active",
      { db: wh.database });
    const [agg] = await wh.query<{ bytes: number }>(
      "SELECT sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = {db:String} AND table = 'requests_1m' AND active", { db: wh.database });
    const [check] = await wh.query<{ n: number; ids: number }>('SELECT count() AS n, uniqExact(event_id) AS ids FROM {db}.requests');
    await wh.close();

    const pipelineRate = EVENTS / drainSeconds;
    rows.push({ name: 'pipeline: Kafka → ingester → embedded ClickHouse', value: pipelineRate, unit: 'events/s', baseline: 'bare kafkajs consumer', baselineValue: EVENTS / rawConsume.seconds });
    rows.push({ name: 'pipeline: Kafka → ingester → embedded ClickHouse', value: pipelineRate, unit: 'events/s', baseline: 'insert pre-serialized rows, no Kafka', baselineValue: EVENTS / insertOnlyRun.seconds });
    rows.push({ name: 'pipeline CPU per event (Node + ClickHouse threads)', value: cpuMicrosPerEvent, unit: 'µs' });
    rows.push({ name: `freshness p50 at ${RATE}/s`, value: quantile(ages, 0.5), unit: 'ms' });
    rows.push({ name: `freshness p99 at ${RATE}/s`, value: quantile(ages, 0.99), unit: 'ms' });
    rows.push({ name: 'bytes per event on disk (requests)', value: disk!.bytes / disk!.rows, unit: 'B', baseline: 'JSON message', baselineValue: jsonBytes / EVENTS });
    rows.push({ name: 'bytes per event on disk (requests_1m)', value: agg!.bytes / disk!.rows, unit: 'B' });

    console.log('');
    console.log(`${'measure'.padEnd(52)} ${'value'.padStart(12)} ${'unit'.padEnd(9)} ${'baseline'.padEnd(38)} ${'baseline'.padStart(10)} ${'ratio'.padStart(6)}`);
    for (const r of rows) {
      const ratio = r.baselineValue ? (r.value / r.baselineValue).toFixed(2) : '';
      console.log(`${r.name.padEnd(52)} ${r.value.toFixed(r.value < 100 ? 1 : 0).padStart(12)} ${r.unit.padEnd(9)} ${(r.baseline ?? '').padEnd(38)} ${(r.baselineValue?.toFixed(0) ?? '').padStart(10)} ${ratio.padStart(6)}`);
    }
    const pass = pipelineRate >= TARGET && check!.n === EVENTS + liveEvents && check!.ids === check!.n;
    console.log(`\nload average at start ${loadStart.join(' ')} on ${cpus().length} CPUs (other work on the machine slows every number)`);
    console.log(`target ≥ ${TARGET} events/s: ${pipelineRate >= TARGET ? 'met' : 'NOT met'}; rows ${check!.n} (expected ${EVENTS + liveEvents}, distinct ids ${check!.ids})`);

    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('./results/pipeline.json', import.meta.url), JSON.stringify({
      bench: 'pipeline', date: new Date().toISOString(), command: 'npm run bench:pipeline',
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverageAtStart: loadStart, loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))) },
      params: { events: EVENTS, liveRate: RATE, liveSeconds: SECONDS, partitions: PARTITIONS, brokers: BROKERS.length, ingester: 'default config' },
      results: {
        pipelineEventsPerSec: Math.round(pipelineRate), pipelineCpuMicrosPerEvent: Number(cpuMicrosPerEvent.toFixed(1)), kafkaOnlyEventsPerSec: Math.round(EVENTS / rawConsume.seconds),
        insertOnlyEventsPerSec: Math.round(EVENTS / insertOnlyRun.seconds), freshnessP50Ms: quantile(ages, 0.5), freshnessP99Ms: quantile(ages, 0.99),
        bytesPerEventOnDisk: Number((disk!.bytes / disk!.rows).toFixed(1)), jsonBytesPerEvent: Number((jsonBytes / EVENTS).toFixed(1)),
        aggregateBytesPerEvent: Number((agg!.bytes / disk!.rows).toFixed(2)), rows: check!.n, distinctEventIds: check!.ids,
      },
      target: { eventsPerSec: TARGET, met: pipelineRate >= TARGET },
      rows,
    }, null, 2) + '\n');
    if (!pass) process.exitCode = 1;
  } finally {
    await admin.deleteTopics({ topics: [backlog, live, `${backlog}.dlq`, `${live}.dlq`] }).catch(() => {});
    await admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
