/**
 * Child process for the crash tests of the local log: appends numbered JSON records to the log
 * in `argv[2]` in batches, forever, printing `acked <lastOffset>` after each append resolves,
 * until the parent kills it with SIGKILL.
 */
import { LocalLogWriter } from '../../../services/telemetry/local-log.ts';

const dir = process.argv[2]!;
const w = new LocalLogWriter({ dir, fsync: 'never', segmentBytes: 64 * 1024 });
let seq = w.nextOffset;
for (;;) {
  const batch: Buffer[] = [];
  for (let i = 0; i < 50; i++) batch.push(Buffer.from(JSON.stringify({ seq: seq++, pad: 'x'.repeat(200) })));
  const { lastOffset } = await w.append(batch);
  process.stdout.write(`acked ${lastOffset}\n`);
}
