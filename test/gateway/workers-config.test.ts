// `gateway.workers`: a whole number from 1 to 64 or `auto`; more than one needs Kafka (the
// workers follow admin changes through the control topics); `mlgate start` refuses more than
// one; each worker gets its own spill directory and dead-letter file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig } from '../../services/core/config.ts';
import { parseEmbeddedConfig } from '../../services/embedded/config.ts';
import { eventWorkerOn, workerCount } from '../../services/gateway/config.ts';
import { workerSlotOf } from '../../services/gateway/cluster-messages.ts';
import { asWorker, GatewayProcessConfig } from '../../services/gateway/main.ts';
import { ADMIN_TOKEN, HASH_KEY, model } from './helpers.ts';

const base = (workers: unknown, kafka: Record<string, unknown> = { brokers: ['127.0.0.1:9092'] }) => ({
  gateway: { workers, admin: { token: ADMIN_TOKEN }, models: { m: model({ v1: 'http://127.0.0.1:9' }) } },
  telemetry: { hashing: { key: HASH_KEY } }, kafka, dataDir: '/data',
});

test('gateway.workers: 1 by default, a count or auto; anything else is refused naming the field', () => {
  const { workers: _w, ...gw } = base(1).gateway;
  assert.equal(parseConfig(GatewayProcessConfig, { ...base(1), gateway: gw }).gateway.workers, 1);
  assert.equal(parseConfig(GatewayProcessConfig, base(4)).gateway.workers, 4);
  assert.equal(parseConfig(GatewayProcessConfig, base('auto')).gateway.workers, 'auto');
  for (const bad of [0, -1, 1.5, 65, 'two', 'AUTO', null]) {
    assert.throws(() => parseConfig(GatewayProcessConfig, base(bad)), /gateway\.workers: expected/, `workers: ${String(bad)}`);
  }
});

test('gateway.workers above 1 needs kafka.brokers; mlgate start refuses it', () => {
  assert.throws(() => parseConfig(GatewayProcessConfig, base(2, {})), /gateway\.workers: more than one worker needs kafka\.brokers/);
  assert.equal(parseConfig(GatewayProcessConfig, base(1, {})).gateway.workers, 1);
  assert.throws(() => parseEmbeddedConfig(base(2, {})), /gateway\.workers: mlgate start runs one gateway process/);
  assert.equal(parseEmbeddedConfig(base(1, {})).gateway.workers, 1);
});

test('auto is the cores available, at least 1 and at most 64', () => {
  assert.equal(workerCount('auto', 8), 8);
  assert.equal(workerCount('auto', 0), 1);
  assert.equal(workerCount('auto', 200), 64);
  assert.equal(workerCount(3, 8), 3);
});

test('gateway.eventWorker: auto by default, on only when the host has more cores than gateway processes', () => {
  assert.equal(parseConfig(GatewayProcessConfig, base(1)).gateway.eventWorker, 'auto');
  assert.equal(parseConfig(GatewayProcessConfig, { ...base(1), gateway: { ...base(1).gateway, eventWorker: false } }).gateway.eventWorker, false);
  assert.throws(() => parseConfig(GatewayProcessConfig, { ...base(1), gateway: { ...base(1).gateway, eventWorker: 'yes' } }), /gateway\.eventWorker: expected true, false or auto/);
  assert.equal(eventWorkerOn('auto', 1, 2), true, 'one process on two cores: the second core takes the events');
  assert.equal(eventWorkerOn('auto', 1, 1), false, 'one core: a worker thread would only compete with the event loop');
  assert.equal(eventWorkerOn('auto', 2, 2), false, 'as many processes as cores: no spare core');
  assert.equal(eventWorkerOn('auto', 'auto', 8), false, 'workers: auto takes every core');
  assert.equal(eventWorkerOn('auto', 3, 8), true);
  assert.equal(eventWorkerOn(true, 2, 2), true, 'an explicit setting wins');
  assert.equal(eventWorkerOn(false, 1, 8), false);
});

test('a worker: its own spill directory and dead-letter file, one gateway id, the admin API on worker 1 only', () => {
  const cfg = parseConfig(GatewayProcessConfig, base(2));
  const one = asWorker(cfg, { index: 1, primaryPid: 4242 });
  const two = asWorker(cfg, { index: 2, primaryPid: 4242 });
  assert.equal(one.telemetry.spill.dir, join('/data', 'telemetry-spill', 'worker-1'));
  assert.equal(two.telemetry.spill.dir, join('/data', 'telemetry-spill', 'worker-2'));
  assert.notEqual(one.telemetry.deadLetterFile, two.telemetry.deadLetterFile);
  assert.equal(one.gateway.id, two.gateway.id);
  assert.match(one.gateway.id, /-4242$/);
  assert.equal(one.gateway.admin.enabled, true);
  assert.equal(two.gateway.admin.enabled, false);
  assert.deepEqual(workerSlotOf({ MLGATE_GATEWAY_WORKER: '2', MLGATE_GATEWAY_PRIMARY_PID: '4242' }), { index: 2, primaryPid: 4242 });
  assert.equal(workerSlotOf({}), undefined);
});
