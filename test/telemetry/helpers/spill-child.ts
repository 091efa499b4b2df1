/**
 * Child process for the SIGKILL test of the Kafka sink: a sink whose broker is unreachable
 * spills `count` events; once they are flushed to the spill, their ids go to `idsFile` and the
 * child prints `spilled` and waits to be killed.
 *   node --import tsx spill-child.ts <spillDir> <count> <idsFile>
 */
import { writeFileSync } from 'node:fs';
import { silentLogger } from '../../../services/core/log.ts';
import { KafkaSink } from '../../../services/telemetry/kafka-sink.ts';
import { sampleEvent } from '../../support/events.ts';

const [dir, count, idsFile] = process.argv.slice(2) as [string, string, string];
const sink = new KafkaSink({
  brokers: ['127.0.0.1:29098'], clientId: 'spill-child', topic: 'unused.topic', partitions: 1,
  queue: { maxEvents: 100_000, highWater: 50_000 }, batch: { maxEvents: 500, maxBytes: 1 << 20, lingerMs: 5 },
  stallMs: 200, spill: { dir, fsync: 'never' }, connectionTimeoutMs: 200, logger: silentLogger(),
});
const ids: string[] = [];
for (let i = 0; i < Number(count); i++) {
  const e = sampleEvent();
  ids.push(e.event_id);
  sink.emit(e);
}
await sink.flush();
writeFileSync(idsFile, JSON.stringify(ids));
process.stdout.write(`spilled ${sink.stats().spilled}\n`);
setInterval(() => {}, 1000);
