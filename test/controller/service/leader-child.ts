/**
 * A controller leader elector alone in a child process, for the SIGKILL failover test: prints
 * `leader true` / `leader false` on each change and runs until killed.
 * Env: BROKERS, TOPIC, GROUP, INSTANCE, SESSION_MS.
 */
import { KafkaLeaderElector } from '../../../services/controller/service/leader.ts';

const elector = new KafkaLeaderElector({
  brokers: (process.env.BROKERS ?? '').split(','), clientId: 'mlgate-test-child', instanceId: process.env.INSTANCE ?? 'child',
  topic: process.env.TOPIC!, groupId: process.env.GROUP!, sessionTimeoutMs: Number(process.env.SESSION_MS ?? 6000),
});
elector.onChange((v) => { process.stdout.write(`leader ${v}\n`); });
await elector.start();
process.stdout.write('joined\n');
setInterval(() => {}, 1 << 30);
