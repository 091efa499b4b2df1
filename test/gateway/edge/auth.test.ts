/**
 * The edge over real sockets: API keys (Bearer and x-api-key; missing and wrong), JWTs (valid,
 * expired, forged, signed by an unknown key, JWKS over HTTP), 403 for a model or a pin not
 * allowed, their events without the credential, and per-consumer rate limits with headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createApiKey } from '../../../services/gateway/edge/api-keys.ts';
import { startStandIn } from '../../support/upstream.ts';
import { createHasher } from '../../../services/telemetry/hash.ts';
import { HASH_KEY, call, model, startTestGateway } from '../helpers.ts';

/** The consumer id a token subject that is not a configured consumer is stored under. */
const subjectId = (sub: string): string => `sub:${createHasher({ key: HASH_KEY, keyId: 'k1' }).hashPayload(sub, 'text/plain').slice(0, 16)}`;

async function jwks(t: import('node:test').TestContext) {
  const good = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'ES256' };
  const srv = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ keys: [jwk] })); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`;
  const sign = (key: webcrypto.CryptoKey, claims: Record<string, unknown>, opts: { exp?: number | string; nbf?: number | string; iss?: string; kid?: string } = {}) => {
    let j = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' }).setIssuer(opts.iss ?? 'https://idp.test').setAudience('mlgate').setIssuedAt();
    j = j.setExpirationTime(opts.exp ?? '5m');
    if (opts.nbf !== undefined) j = j.setNotBefore(opts.nbf);
    return j.sign(key);
  };
  return { url, good: good.privateKey, other: other.privateKey, sign };
}

test('credentials, permissions and their events', async (t) => {
  const up = await startStandIn({ name: 'm', t });
  const a = createApiKey();
  const b = createApiKey();
  const idp = await jwks(t);
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ v1: up.url, v2: up.url }, { weights: { v1: 50, v2: 50 } }), secret: model({ v1: up.url }) },
    consumers: { acme: { keys: [a.hash], models: ['m'], pin: ['m'] }, beta: { keys: [b.hash], models: ['m', 'secret'] } },
    auth: { jwt: { jwksUrl: idp.url, issuer: 'https://idp.test', audience: 'mlgate', scopes: { 'predict:secret': ['secret'] } } },
  });
  const predict = (m: string, headers: Record<string, string>) => call(`${gw.url}/v1/models/${m}/predict`, { body: { x: 1 }, headers });

  let r = await predict('m', { authorization: `Bearer ${a.key}` });
  assert.equal(r.status, 200);
  assert.equal(up.requests.at(-1)!.headers.authorization, undefined, 'the credential is not sent upstream');
  r = await predict('m', { 'x-api-key': b.key });
  assert.equal(r.status, 200);
  const before = up.count;
  r = await predict('m', {});
  assert.equal(r.status, 401);
  assert.match(String(r.headers['www-authenticate']), /^Bearer/);
  r = await predict('m', { 'x-api-key': a.key.slice(0, -2) + 'zz' });
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'MLG_GW_UNAUTHORIZED');
  r = await predict('secret', { authorization: `Bearer ${a.key}` });
  assert.equal(r.status, 403);
  r = await predict('m', { 'x-api-key': b.key, 'x-mlgate-version': 'v2' });
  assert.equal(r.status, 403, 'beta may not pin');
  r = await predict('m', { 'x-api-key': a.key, 'x-mlgate-version': 'v2' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-mlgate-version'], 'v2');

  // JWTs
  r = await predict('secret', { authorization: `Bearer ${await idp.sign(idp.good, { sub: 'tok-user', scope: 'predict:secret' })}` });
  assert.equal(r.status, 200, r.text);
  r = await predict('m', { authorization: `Bearer ${await idp.sign(idp.good, { sub: 'tok-user', scope: 'predict:secret' })}` });
  assert.equal(r.status, 403, 'scopes grant only their models');
  const refused: Array<[string, string]> = [
    ['expired', await idp.sign(idp.good, { sub: 'u', scope: 'predict:secret' }, { exp: Math.floor(Date.now() / 1000) - 600 })],
    ['not yet valid', await idp.sign(idp.good, { sub: 'u', scope: 'predict:secret' }, { nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['forged (unknown key, same kid)', await idp.sign(idp.other, { sub: 'u', scope: 'predict:secret' })],
    ['unknown kid', await idp.sign(idp.other, { sub: 'u', scope: 'predict:secret' }, { kid: 'nope' })],
    ['wrong issuer', await idp.sign(idp.good, { sub: 'u', scope: 'predict:secret' }, { iss: 'https://evil.test' })],
  ];
  for (const [what, tok] of refused) {
    r = await predict('secret', { authorization: `Bearer ${tok}` });
    assert.equal(r.status, 401, what);
  }
  const tampered = (await idp.sign(idp.good, { sub: 'u', scope: 'predict:secret' })).split('.');
  tampered[1] = Buffer.from(JSON.stringify({ sub: 'admin', scope: 'predict:secret', aud: 'mlgate', iss: 'https://idp.test', exp: 9e9 })).toString('base64url');
  r = await predict('secret', { authorization: `Bearer ${tampered.join('.')}` });
  assert.equal(r.status, 401, 'tampered payload');
  assert.equal(up.count, before + 2, 'only the allowed requests reached the model');

  await sink.waitFor(9 + refused.length, 10_000);
  const unauth = sink.events.filter((e) => e.outcome === 'unauthorized');
  const forbidden = sink.events.filter((e) => e.outcome === 'forbidden');
  assert.equal(unauth.length, 3 + refused.length);
  assert.equal(forbidden.length, 3);
  const all = JSON.stringify(sink.events);
  assert.ok(!all.includes(a.key) && !all.includes(b.key) && !all.includes(a.key.slice(13)), 'no key in any event');
  assert.deepEqual(new Set(sink.events.filter((e) => e.outcome === 'ok').map((e) => e.consumer_id)), new Set(['acme', 'beta', subjectId('tok-user')]));
  const metrics = await call(gw.metricsUrl, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
  assert.match(metrics.text, /mlgate_gateway_auth_failures_total\{reason="expired"[^}]*\} 1/);
});

test('a consumer over its limit gets 429 with Retry-After and RateLimit headers; another is unaffected', async (t) => {
  const up = await startStandIn({ name: 'm', t });
  const a = createApiKey();
  const b = createApiKey();
  const { gw, sink } = await startTestGateway(t, {
    models: { m: model({ v1: up.url }) },
    consumers: {
      greedy: { keys: [a.hash], models: ['*'], limits: { requests: { requestsPerSecond: 0.01, burst: 5 } } },
      calm: { keys: [b.hash], models: ['*'], limits: { models: { m: { requestsPerSecond: 0.01, burst: 50 } } } },
    },
  });
  const predict = (key: string) => call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 }, headers: { 'x-api-key': key } });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await predict(a.key)).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
  const r = await predict(a.key);
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After ${r.headers['retry-after']}`);
  assert.equal(r.headers['ratelimit-limit'], '5');
  assert.equal(r.headers['ratelimit-remaining'], '0');
  for (let i = 0; i < 10; i++) assert.equal((await predict(b.key)).status, 200);
  await sink.waitFor(19, 10_000);
  const limited = sink.events.filter((e) => e.outcome === 'rate_limited');
  assert.equal(limited.length, 4);
  assert.ok(limited.every((e) => e.consumer_id === 'greedy' && e.status === 429));
  assert.equal(up.count, 15);
});
