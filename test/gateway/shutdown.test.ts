/**
 * Graceful shutdown: stop accepting, finish in-flight requests within the deadline (cut them
 * after it), flush telemetry; and the same through `mlgate gateway` on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startStandIn } from '../support/upstream.ts';
import { waitUntil } from '../support/infra.ts';
import { startTestGateway, call, model } from './helpers.ts';
import { listSegments, scanSegment, segmentName } from '../../services/telemetry/local-log-format.ts';

const refused = async (url: string) => {
  try {
    await request(`${url}/healthz`, { reset: true });
    return false;
  } catch (err) {
    return /ECONNREFUSED/.test(String((err as { code?: string }).code ?? err));
  }
};

test('shutdown: in-flight requests finish, new connections are refused, events are flushed', async (t) => {
  const slow = await startStandIn({ name: 'v1', t, delayMs: 400 });
  const { gw, sink } = await startTestGateway(t, { shutdownTimeoutMs: 10_000, models: { m: model({ v1: slow.url }) } });
  const inflight = [1, 2, 3].map((i) => call(`${gw.url}/v1/models/m/predict`, { body: { i } }));
  await waitUntil('three requests at the upstream', () => slow.count === 3);
  const closed = gw.close();
  await waitUntil('new connections to be refused', () => refused(gw.url), 5_000);
  const results = await Promise.all(inflight);
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200]);
  await closed;
  assert.equal(sink.events.length, 3, 'every in-flight request has its event once close() resolved');
  assert.ok(sink.events.every((e) => e.outcome === 'ok'));
});

test('shutdown: requests still running at the deadline are cut and recorded', async (t) => {
  const stuck = await startStandIn({ name: 'v1', t, delayMs: 30_000 });
  const { gw, sink } = await startTestGateway(t, { shutdownTimeoutMs: 200, models: { m: model({ v1: stuck.url }) } });
  const pending = call(`${gw.url}/v1/models/m/predict`, { body: {} }).then(() => 'answered', () => 'cut');
  await waitUntil('the request at the upstream', () => stuck.count === 1);
  await gw.close();
  assert.equal(await pending, 'cut');
  assert.equal(sink.events.length, 1);
  assert.equal(sink.events[0]!.error_class, 'shutdown_deadline');
});

test('shutdown: `mlgate gateway` drains on SIGTERM and exits 0 with its events in the local log', async (t) => {
  const slow = await startStandIn({ name: 'v1', t, delayMs: 500 });
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-sigterm-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify({
    dataDir: join(dir, 'data'),
    log: { level: 'info' },
    telemetry: { hashing: { key: 'sigterm-test-hash-key-0123' } },
    gateway: { port: 0, admin: { port: 0, token: 'sigterm-admin-token-0123' }, models: { m: { versions: { v1: { targets: [slow.url] } } } } },
  }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'gateway', '--config', file], {
    cwd: new URL('../../', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = await waitUntil('the gateway to be ready', () => out.split('\n').map((l) => { try { return JSON.parse(l); } catch { return undefined; } })
    .find((l) => l?.msg === 'mlgate gateway ready'), 60_000);
  const url = ready.url as string;
  assert.equal((await call(`${url}/v1/models/m/predict`, { body: { warm: true } })).status, 200);
  const inflight = call(`${url}/v1/models/m/predict`, { body: { slow: true } });
  await waitUntil('the slow request at the upstream', () => slow.count === 2);
  child.kill('SIGTERM');
  const r = await inflight;
  assert.equal(r.status, 200, 'the in-flight request finished after SIGTERM');
  assert.equal(await exited, 0, err);
  assert.match(out, /shutting down/);
  assert.match(out, /gateway stopped/);
  const logDir = join(dir, 'data', 'telemetry-log');
  const records = listSegments(logDir).reduce((n, base) => n + scanSegment(join(logDir, segmentName(base))).records, 0);
  assert.equal(records, 2, 'both events reached the local log before exit');
});
