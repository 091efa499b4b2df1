/**
 * What the ingester's event-id lookup (services/ingester/dedupe.ts) costs: the same Kafka backlog
 * drained by the real ingester into the embedded ClickHouse with `dedupeEvents` off and on,
 * alternating (off, on, on, off) so that drift of a shared machine falls on both sides. Reports
 * events/s and CPU µs per event (Node + ClickHouse threads of this process) for each, and the ratio.
 *
 * Environment: BENCH_EVENTS (default 100000), MLGATE_TEST_KAFKA_BROKERS (default 127.0.0.1:19092).
 * Writes bench/results/ingester-dedupe.json.
 */
import { loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WarehouseSection } from '../services/warehouse/config.ts';
import { migrate } from '../services/warehouse/migrate.ts';
import { createWarehouse } from '../services/warehouse/warehouse.ts';
import { benchKafka, committed, produceEvents, startBenchIngester } from './pipeline/phases.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BROKERS = (process.env.MLGATE_TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const PARTITIONS = 3;

async function main(): Promise<void> {
  const load = loadavg().map((l) => Number(l.toFixed(2)));
  const kafka = benchKafka(BROKERS);
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench.dedupe.${Date.now().toString(36)}`;
  await admin.createTopics({ waitForLeaders: true, topics: [topic, `${topic}.dlq`].map((t) => ({ topic: t, numPartitions: PARTITIONS })) });
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-bench-dedupe-'));
  const runs: Array<{ dedupe: boolean; seconds: number; cpuMicrosPerEvent: number; rows: number }> = [];
  try {
    console.log(`producing ${EVENTS} events to ${topic} …`);
    await produceEvents(kafka, topic, EVENTS);
    const order = [false, true, true, false];
    for (const [i, dedupe] of order.entries()) {
      const wh = await createWarehouse(WarehouseSection.parse({ engine: 'embedded', path: join(dir, 'clickhouse'), database: `dedupe_${i}` }));
      await migrate(wh);
      const groupId = `bench-dedupe-${i}-${topic}`;
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const run = await startBenchIngester(BROKERS, wh, topic, { groupId, dedupeEvents: dedupe });
      const deadline = Date.now() + 600_000;
      while ((await committed(admin, groupId, topic)) < EVENTS) {
        if (Date.now() > deadline) throw new Error('timed out draining the backlog');
        await new Promise((r) => setTimeout(r, 50));
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      await run.ingester.stop();
      const [c] = await wh.query<{ n: number }>('SELECT count() AS n FROM {db}.requests');
      runs.push({ dedupe, seconds, cpuMicrosPerEvent: (cpu.user + cpu.system) / EVENTS, rows: Number(c?.n) });
      console.log(`run ${i + 1}: dedupe ${dedupe ? 'on ' : 'off'}  ${(EVENTS / seconds).toFixed(0)} events/s  ${((cpu.user + cpu.system) / EVENTS).toFixed(1)} µs CPU/event  rows ${c?.n}`);
      await wh.command('DROP DATABASE IF EXISTS {db}');
      await wh.close();
    }
  } finally {
    await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => {});
    await admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
  const side = (on: boolean) => runs.filter((r) => r.dedupe === on);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const off = { eventsPerSec: mean(side(false).map((r) => EVENTS / r.seconds)), cpuMicrosPerEvent: mean(side(false).map((r) => r.cpuMicrosPerEvent)) };
  const on = { eventsPerSec: mean(side(true).map((r) => EVENTS / r.seconds)), cpuMicrosPerEvent: mean(side(true).map((r) => r.cpuMicrosPerEvent)) };
  const result = {
    at: new Date().toISOString(), loadAverageAtStart: load, params: { events: EVENTS, partitions: PARTITIONS, order: 'off, on, on, off' },
    off, on, throughputRatioOnOff: on.eventsPerSec / off.eventsPerSec, cpuRatioOnOff: on.cpuMicrosPerEvent / off.cpuMicrosPerEvent, runs,
  };
  console.table([
    { dedupe: 'off', 'events/s': off.eventsPerSec.toFixed(0), 'µs CPU/event': off.cpuMicrosPerEvent.toFixed(1) },
    { dedupe: 'on', 'events/s': on.eventsPerSec.toFixed(0), 'µs CPU/event': on.cpuMicrosPerEvent.toFixed(1) },
  ]);
  console.log(`on/off: throughput ${result.throughputRatioOnOff.toFixed(2)}, CPU per event ${result.cpuRatioOnOff.toFixed(2)} (load average at start ${load.join(' ')})`);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/ingester-dedupe.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
