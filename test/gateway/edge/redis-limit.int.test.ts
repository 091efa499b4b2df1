/** Two gateways sharing the Redis at 127.0.0.1:6379 enforce one limit together (within 5%). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createApiKey } from '../../../services/gateway/edge/api-keys.ts';
import { startStandIn } from '../../support/upstream.ts';
import { call, model, startTestGateway } from '../helpers.ts';

async function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(6379, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

test('two gateways on one Redis share one bucket', async (t) => {
  if (!(await redisUp())) {
    if (process.env.CI === 'true') assert.fail('Redis at 127.0.0.1:6379 is required under CI=true');
    t.skip('no Redis at 127.0.0.1:6379');
    return;
  }
  const up = await startStandIn({ name: 'm', t });
  const k = createApiKey();
  const burst = 200;
  const raw = {
    models: { m: model({ v1: up.url }) },
    consumers: { shared: { keys: [k.hash], models: ['*'], limits: { requests: { requestsPerSecond: 1, burst } } } },
    rateLimits: { store: 'redis', redisUrl: 'redis://127.0.0.1:6379', keyPrefix: `mlgate:test:${randomBytes(6).toString('hex')}:`, redisTimeoutMs: 2000 },
  };
  const g1 = await startTestGateway(t, raw);
  const g2 = await startTestGateway(t, raw);
  const t0 = Date.now();
  let ok = 0;
  let limited = 0;
  for (let i = 0; i < 40; i++) {
    const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => call(`${(j % 2 ? g1 : g2).gw.url}/v1/models/m/predict`, { body: { i, j }, headers: { 'x-api-key': k.key } })));
    for (const r of batch) { if (r.status === 200) ok++; else if (r.status === 429) limited++; else assert.fail(`status ${r.status}: ${r.text}`); }
  }
  const allowedMax = burst + Math.ceil((Date.now() - t0) / 1000);
  assert.equal(ok + limited, 400);
  assert.ok(ok >= burst * 0.95 && ok <= allowedMax * 1.05, `allowed ${ok}, expected about ${burst}..${allowedMax}`);
  assert.equal(up.count, ok);
});
