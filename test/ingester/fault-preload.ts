/**
 * Test-only fault injection for a child `mlgate ingester`, loaded with `--import`. With
 * MLGATE_TEST_KILL_AT_COMMIT=N the process kills itself with SIGKILL when it is about to commit
 * for the Nth time: the batch is in ClickHouse, the offsets are not committed. The worst moment
 * for a crash, reached every time instead of by luck.
 */
import { KafkaSource } from '../../services/ingester/kafka-source.ts';

const at = Number(process.env.MLGATE_TEST_KILL_AT_COMMIT ?? 0);
if (at > 0) {
  const commit = KafkaSource.prototype.commit;
  let n = 0;
  KafkaSource.prototype.commit = async function (this: KafkaSource, ...args: Parameters<typeof commit>) {
    if (++n === at) process.kill(process.pid, 'SIGKILL');
    return commit.apply(this, args);
  };
}
