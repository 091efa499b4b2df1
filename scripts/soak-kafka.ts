/**
 * `npm run soak:kafka`: the long version of test/telemetry/broker-faults.int.test.ts. A Kafka sink
 * under steady load (SOAK_RATE events/s, default 400) against a private broker (port 29292, behind
 * a proxy on 29290; never the shared one) that is SIGKILLed SOAK_KILLS times (default 10) at random
 * points and restarted on the same log directory, then once more with the log directory wiped
 * (SOAK_WIPE=0 skips it). At the end every event emitted must be in Kafka at least once (distinct
 * event ids; those acknowledged before the wipe went with the broker's data and are not asked
 * for, but every event before the wipe is checked just before it), none dropped, and the close
 * must finish within 10 s. Prints one line per fault and a
 * summary; exits 1 on any loss.
 */
import { silentLogger } from '../services/core/log.ts';
import { KafkaSink } from '../services/telemetry/kafka-sink.ts';
import { distinctIds, load, startFaultBroker } from '../test/telemetry/helpers/fault-broker.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RATE = Number(process.env.SOAK_RATE ?? 400);
const KILLS = Number(process.env.SOAK_KILLS ?? 10);
const WIPE = process.env.SOAK_WIPE !== '0';

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const broker = await startFaultBroker(29292, 29290);
const dir = mkdtempSync(join(tmpdir(), 'mlgate-soak-'));
const topic = 'soak.telemetry';
try {
  const sink = new KafkaSink({
    brokers: [broker.address], clientId: 'mlgate-soak', topic, partitions: 6,
    queue: { maxEvents: 50_000, highWater: 10_000 }, batch: { maxEvents: 1000, maxBytes: 512 * 1024, lingerMs: 5 },
    stallMs: 1000, spill: { dir: join(dir, 'spill'), fsync: 'interval' }, logger: silentLogger(),
  });
  const { ids, stop: stopLoad } = load(sink, Math.max(1, Math.round(RATE / 100)));
  const delivered = () => sink.stats().sent + sink.stats().replayed;
  let askFrom = 0;
  const faults = KILLS + (WIPE ? 1 : 0);
  for (let k = 0; k < faults; k++) {
    const wipe = WIPE && k === faults - 1;
    if (wipe) {
      // The wipe destroys what the broker holds: check every event so far first.
      const before = ids.slice();
      await until('every event so far delivered', () => delivered() >= before.length && sink.spillBacklog() === 0, 120_000);
      const { ids: seen } = await distinctIds(broker.client(), topic, before, 60_000);
      const missing = before.filter((id) => !seen.has(id)).length;
      console.log(`before the wipe: ${before.length} events, missing ${missing}`);
      if (missing > 0) process.exitCode = 1;
    }
    const target = delivered() + 200 + Math.floor(Math.random() * 3000);
    await until('deliveries before the fault', () => delivered() >= target, 120_000);
    const t0 = Date.now();
    await broker.kill();
    if (wipe) askFrom = ids.length;
    await new Promise((r) => setTimeout(r, Math.random() * 3000));
    await broker.start({ wipe });
    await until('direct sends again', () => sink.currentMode() === 'direct', 120_000);
    const s = sink.stats();
    console.log(`${wipe ? 'wipe' : 'kill'} ${k + 1}/${faults}: back to direct after ${Date.now() - t0} ms; emitted ${ids.length}, sent ${s.sent}, spilled ${s.spilled}, replayed ${s.replayed}, dropped ${s.dropped}, producer resets ${sink.producerResets()}`);
  }
  await stopLoad();
  await until('every event delivered', () => delivered() === ids.length && sink.spillBacklog() === 0, 120_000);
  const t0 = Date.now();
  await sink.close();
  const closeMs = Date.now() - t0;
  const want = ids.slice(askFrom);
  const { ids: seen, messages } = await distinctIds(broker.client(), topic, want, 60_000);
  const missing = want.filter((id) => !seen.has(id)).length;
  const s = sink.stats();
  console.log(`\nevents ${ids.length} (asked for ${want.length}), missing ${missing}, messages read ${messages}, dropped ${s.dropped}, close ${closeMs} ms`);
  if (missing > 0 || s.dropped > 0 || closeMs >= 10_000) process.exitCode = 1;
} finally {
  await broker.destroy();
  rmSync(dir, { recursive: true, force: true });
}
