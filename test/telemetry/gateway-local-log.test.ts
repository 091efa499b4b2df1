/**
 * Embedded mode end to end on the telemetry side: requests through the real gateway with the
 * local-log sink become exactly one record each in the local log, in the order the ingester's
 * reader sees them, with the event ids the clients were given and no raw PII.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { parseConfig } from '../../services/core/config.ts';
import { silentLogger } from '../../services/core/log.ts';
import { startGateway } from '../../services/gateway/gateway.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { decodeEvent } from '../../services/telemetry/event.ts';
import { createSink, localLogDir } from '../../services/telemetry/factory.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { LocalLogReader } from '../../services/telemetry/local-log.ts';
import { LocalLogSink } from '../../services/telemetry/log-sink.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { startStandIn } from '../support/upstream.ts';
import { gatewayConfig, model } from '../gateway/helpers.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';

test('gateway + local log: 2,000 requests give exactly 2,000 records with the clients\' event ids', async (t) => {
  const dataDir = tempDir(t, 'gwlog');
  const telemetry = parseConfig(TelemetrySection, { hashing: { key: 'embedded-test-key-0123456' } });
  const sink = createSink({ telemetry, dataDir, logger: silentLogger() });
  assert.ok(sink instanceof LocalLogSink);
  const v1 = await startStandIn({ name: 'v1', t });
  const gw = await startGateway({
    config: gatewayConfig({ models: { m: model({ v1: v1.url }) } }), sink, gatewayId: 'gw-embedded',
    hasher: createHasher({ key: 'embedded-test-key-0123456', keyId: 'k1' }), redactor: createRedactor({ maxChars: 2048 }), logger: silentLogger(),
  });
  cleanup(t, async () => { await gw.close(); await sink.close(); });
  const pool = new Pool(gw.url, { connections: 16 });
  cleanup(t, () => pool.close());
  const ids = new Set<string>();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < 2000) {
      const i = next++;
      const res = await pool.request({ path: '/v1/models/m/predict', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `hi from user${i}@example.com`, phone: '+44 20 7946 0958' }) });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      ids.add(String(res.headers['x-mlgate-event-id']));
    }
  }));
  await gw.close();
  await sink.flush();
  const reader = new LocalLogReader({ dir: localLogDir(telemetry, dataDir), name: 'ingester' });
  cleanup(t, () => reader.close());
  const seen = new Set<string>();
  let expectedOffset = 0;
  for (let recs = await reader.read(500); recs.length; recs = await reader.read(500)) {
    for (const r of recs) {
      assert.equal(r.offset, expectedOffset++);
      const d = decodeEvent(r.value);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.ok(!seen.has(d.event.event_id), 'no duplicate');
      seen.add(d.event.event_id);
      assert.doesNotMatch(d.event.input_redacted, /@example\.com|7946/);
      assert.equal(d.event.redactions.EMAIL, 1);
    }
  }
  assert.equal(seen.size, 2000);
  for (const id of ids) assert.ok(seen.has(id), `event ${id} missing from the local log`);
});
