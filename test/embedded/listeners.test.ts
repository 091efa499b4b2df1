// The embedded rollout page's own listener: open, with the control-plane APIs' health and 404.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRolloutPage } from '../../services/embedded/listeners.ts';
import { silentLogger } from '../../services/core/log.ts';
import type { Warehouse } from '../../services/warehouse/warehouse.ts';

test('rollout page listener: /healthz, a catalogue 404 for unknown paths, / redirects to the page', async (t) => {
  // Neither route below reads the warehouse or the rollouts.
  const page = await startRolloutPage({ host: '127.0.0.1', port: 0, warehouse: {} as Warehouse, rollouts: { list: async () => [] } as never, logger: silentLogger() });
  t.after(() => page.close());
  const health = await fetch(`${page.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const missing = await fetch(`${page.url}/nope`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: { code: 'MLG_CTL_NOT_FOUND', message: 'no rollout page route for GET /nope' } });
  const root = await fetch(`${page.url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/ui/');
});
