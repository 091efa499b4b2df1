/**
 * Child process for the close test of the Kafka sink: for each delay given, a sink whose broker
 * is unreachable gets one event, waits that long (so close lands at different points of the
 * connect-and-retry loop), closes, and prints `closed <delay>`. The process has nothing else
 * keeping it alive, so a close that leaves only unref'd timers behind ends it early (exit 13).
 *   node --import tsx close-child.ts <dir> <delayMs>...
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../../services/core/log.ts';
import { KafkaSink } from '../../../services/telemetry/kafka-sink.ts';
import { sampleEvent } from '../../support/events.ts';

const [root, ...delays] = process.argv.slice(2) as [string, ...string[]];
for (const d of delays.map(Number)) {
  const sink = new KafkaSink({
    brokers: ['127.0.0.1:29095'], clientId: 'close-child', topic: 'unused.topic', partitions: 1,
    queue: { maxEvents: 100, highWater: 50 }, batch: { maxEvents: 10, maxBytes: 1 << 20, lingerMs: 1 },
    stallMs: 50, spill: { dir: mkdtempSync(join(root, 'spill-')) }, connectionTimeoutMs: 200, logger: silentLogger(),
  });
  sink.emit(sampleEvent());
  await new Promise((r) => setTimeout(r, d));
  await sink.close();
  process.stdout.write(`closed ${d} spilled=${sink.stats().spilled}\n`);
}
