/**
 * No PII outside the body: what a client controls outside the redacted input (the path, the
 * body's `model`, a token's `sub`) never lands raw in an event field or a Prometheus series, and
 * files holding telemetry are private to the service's user. Through a running gateway:
 * - `route` is the matched route template (`unmatched` for a 404 path), never the raw path;
 * - `model` is a configured model name or `unknown`, and unknown names are no metric label;
 * - a JWT's `sub` is stored as a keyed hash (`sub:` + 16 hex of the telemetry HMAC) unless it
 *   names a configured consumer or `consumerIds: raw`; it becomes no metric label;
 * - the local log and the spill are 0600 files in 0700 folders, looser ones tightened at start.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { webcrypto } from 'node:crypto';
import { parseConfig } from '../../services/core/config.ts';
import { createLogger, silentLogger } from '../../services/core/log.ts';
import { startGateway } from '../../services/gateway/gateway.ts';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { createSink, localLogDir } from '../../services/telemetry/factory.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { Spill } from '../../services/telemetry/spill.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import { startStandIn } from '../support/upstream.ts';
import { cleanup, tempDir } from '../support/cleanup.ts';
import { ADMIN_TOKEN, HASH_KEY, call, gatewayConfig, model, startTestGateway } from '../gateway/helpers.ts';

const EMAIL = 'ann@example.com';
const SUB = 'bob@example.com';

const metricsText = async (url: string): Promise<string> => (await call(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text;
const eventOf = (events: readonly TelemetryEvent[], id: unknown): TelemetryEvent => {
  const e = events.find((x) => x.event_id === id);
  assert.ok(e, `event ${String(id)}`);
  return e;
};
/** Every field but the redacted input (which redaction covers). */
const outsideBody = (e: TelemetryEvent): string => JSON.stringify({ ...e, input_redacted: '' });

test('route is the matched template and model a configured name or unknown, in events and metrics', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: up.url }), 'chat-model': model({ v1: up.url }) } });
  const cases: Array<{ what: string; url: string; method?: string; body?: unknown; status: number; route: string; model: string }> = [
    { what: 'sub-path with an email', url: `/v1/models/m/users/${EMAIL}/history`, method: 'GET', status: 200, route: '/v1/models/{model}/*', model: 'm' },
    { what: 'predict', url: '/v1/models/m/predict', body: { x: 1 }, status: 200, route: '/v1/models/{model}/predict', model: 'm' },
    { what: 'unknown model in the path', url: `/v1/models/${EMAIL}/predict`, body: { x: 1 }, status: 404, route: '/v1/models/{model}/predict', model: 'unknown' },
    { what: 'unknown model, encoded', url: `/v1/models/${encodeURIComponent(EMAIL)}/x/y`, method: 'GET', status: 404, route: '/v1/models/{model}/*', model: 'unknown' },
    { what: 'OpenAI body model', url: '/v1/chat/completions', body: { model: EMAIL, messages: [] }, status: 404, route: '/v1/chat/completions', model: 'unknown' },
    { what: 'OpenAI configured model', url: '/v1/chat/completions', body: { model: 'chat-model', messages: [] }, status: 200, route: '/v1/chat/completions', model: 'chat-model' },
    { what: 'no route', url: `/nowhere/${EMAIL}?q=${EMAIL}`, method: 'GET', status: 404, route: 'unmatched', model: 'unknown' },
    { what: 'no route under /v1/models', url: `/v1/models/${EMAIL}`, method: 'DELETE', status: 404, route: 'unmatched', model: 'unknown' },
    { what: 'bad sub-path', url: `/v1/models/m/${EMAIL}%00`, method: 'GET', status: 400, route: '/v1/models/{model}/*', model: 'm' },
  ];
  for (const c of cases) {
    const r = await call(`${gw.url}${c.url}`, { method: c.method ?? 'POST', body: c.body });
    assert.equal(r.status, c.status, `${c.what}: ${r.text}`);
    await sink.waitFor(cases.indexOf(c) + 1, 5_000);
    const e = eventOf(sink.events, r.headers['x-mlgate-event-id']);
    assert.equal(e.route, c.route, c.what);
    assert.equal(e.model, c.model, c.what);
    assert.ok(!outsideBody(e).includes(EMAIL) && !outsideBody(e).includes('%40'), `${c.what}: ${outsideBody(e)}`);
  }
  const text = await metricsText(gw.metricsUrl);
  assert.ok(!text.includes(EMAIL) && !text.includes('example.com'), 'no client-chosen name in a metric');
  assert.match(text, /mlgate_gateway_requests_total\{[^}]*model="unknown"[^}]*outcome="not_found"[^}]*\} 5/);
});

async function idp() {
  const pair = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  const sign = (claims: Record<string, unknown>, key: webcrypto.CryptoKey = pair.privateKey) => new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.test').setAudience('mlgate').setIssuedAt().setExpirationTime('5m').sign(key);
  return { jwk, sign };
}

async function jwtGateway(t: TestContext, extra: Record<string, unknown> = {}) {
  const up = await startStandIn({ name: 'v1', t });
  const keys = await idp();
  const tg = await startTestGateway(t, {
    models: { m: model({ v1: up.url }) },
    consumers: { acme: { keys: [], models: ['m'] } },
    auth: { jwt: { keys: [keys.jwk], issuer: 'https://idp.test', audience: 'mlgate', scopes: { predict: ['m'] } } },
    rateLimits: { default: { requests: { requestsPerSecond: 0.01, burst: 1 } } },
  }, extra);
  const predict = async (sub: string) => call(`${tg.gw.url}/v1/models/m/predict`, { body: { x: 1 }, headers: { authorization: `Bearer ${await keys.sign({ sub, scope: 'predict' })}` } });
  return { ...tg, predict };
}

test('a JWT sub is stored as a keyed hash, a configured consumer keeps its id, and no sub becomes a metric label', async (t) => {
  const { gw, sink, predict } = await jwtGateway(t);
  const ok = await predict(SUB);
  assert.equal(ok.status, 200, ok.text);
  const limited = await predict(SUB);
  assert.equal(limited.status, 429, 'the second request of the sub is over its limit');
  const acme = await predict('acme');
  assert.equal(acme.status, 200, acme.text);
  await sink.waitFor(3, 5_000);
  const expected = `sub:${createHasher({ key: HASH_KEY, keyId: 'k1' }).hashPayload(SUB, 'text/plain').slice(0, 16)}`;
  assert.equal(eventOf(sink.events, ok.headers['x-mlgate-event-id']).consumer_id, expected);
  assert.equal(eventOf(sink.events, limited.headers['x-mlgate-event-id']).consumer_id, expected, 'the same sub, the same id (limits and stickiness hold)');
  assert.equal(eventOf(sink.events, acme.headers['x-mlgate-event-id']).consumer_id, 'acme');
  for (const e of sink.events) assert.ok(!outsideBody(e).includes(SUB), outsideBody(e));
  const text = await metricsText(gw.metricsUrl);
  assert.ok(!text.includes(SUB) && !text.includes(expected), 'neither the sub nor its hash is a metric label');
  assert.match(text, /mlgate_gateway_rate_limited_total\{consumer="other",model="m"[^}]*\} 1/);
});

test('consumerIds: raw keeps opaque subs as they are (events only, never metrics)', async (t) => {
  const { gw, sink, predict } = await jwtGateway(t, { consumerIds: 'raw' });
  const ok = await predict('opaque-7f3a');
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await predict('opaque-7f3a')).status, 429);
  await sink.waitFor(2, 5_000);
  assert.equal(eventOf(sink.events, ok.headers['x-mlgate-event-id']).consumer_id, 'opaque-7f3a');
  const text = await metricsText(gw.metricsUrl);
  assert.ok(!text.includes('opaque-7f3a'));
  assert.equal(parseConfig(TelemetrySection, { hashing: { key: HASH_KEY } }).consumerIds, 'hash', 'hash is the default');
});

const modeOf = (p: string): number => statSync(p).mode & 0o777;

function assertPrivate(dir: string): void {
  assert.equal(modeOf(dir), 0o700, `${dir} is 0700`);
  const files = readdirSync(dir);
  assert.ok(files.length > 0, `files in ${dir}`);
  for (const f of files) assert.equal(modeOf(join(dir, f)), 0o600, `${f} is 0600`);
}

test('the local log written through the gateway is 0600 files in a 0700 folder; looser ones are tightened and logged', async (t) => {
  const dataDir = tempDir(t, 'pii-log');
  const telemetry = parseConfig(TelemetrySection, { hashing: { key: HASH_KEY } });
  const dir = localLogDir(telemetry, dataDir);
  // A folder and a segment left by an older version, readable by everyone.
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '00000000000000000000.seg'), '', { mode: 0o644 });
  chmodSync(join(dir, '00000000000000000000.seg'), 0o644);
  const lines: string[] = [];
  const logger = createLogger({ service: 'test', level: 'info', destination: { write: (s: string) => { lines.push(s); } } });
  const sink = createSink({ telemetry, dataDir, logger });
  const up = await startStandIn({ name: 'v1', t });
  const gw = await startGateway({
    config: gatewayConfig({ models: { m: model({ v1: up.url }) } }), sink, gatewayId: 'gw-modes',
    hasher: createHasher({ key: HASH_KEY, keyId: 'k1' }), redactor: createRedactor({ budgetMs: 60_000, maxChars: 256 }), logger: silentLogger(),
  });
  cleanup(t, async () => { await gw.close(); await sink.close(); });
  for (let i = 0; i < 3; i++) assert.equal((await call(`${gw.url}/v1/models/m/predict`, { body: { text: `hi ${EMAIL}` } })).status, 200);
  await gw.close();
  await sink.flush();
  assertPrivate(dir);
  const tightened = lines.map((l) => JSON.parse(l) as { msg: string; path?: string; from?: string }).filter((l) => /tightened/.test(l.msg));
  assert.ok(tightened.some((l) => l.path === dir && l.from === '755'), JSON.stringify(lines));
});

test('the spill is 0600 files in a 0700 folder', async (t) => {
  const dir = join(tempDir(t, 'pii-spill'), 'nested', 'telemetry-spill');
  const spill = new Spill({ dir, fsync: 'never' });
  cleanup(t, () => spill.close());
  await spill.append([{ key: 'k', value: Buffer.from(JSON.stringify({ input_redacted: '<EMAIL>' })) }]);
  const batch = await spill.read(10, 1 << 20);
  assert.ok(batch);
  await spill.commit(batch.nextOffset);
  assertPrivate(dir);
  assert.equal(modeOf(join(dir, '..')), 0o700, 'folders it creates are 0700 too');
});
