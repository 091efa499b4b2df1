/**
 * Hostile JWTs through a running gateway (JWKS served over loopback http): a token without `exp`,
 * one living longer than `maxLifetimeSec`, wrong issuer or audience, `alg: none`, HS256 keyed
 * with the public key's bytes, expired, not yet valid, issued in the future, oversized: each gets
 * 401 without its contents in the answer and never reaches the model; a valid token gets 200.
 * Config without issuer or audience, or with an http JWKS URL to another host, stops the start
 * naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, type webcrypto } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { ADMIN_TOKEN, call, gatewayConfig, model, startTestGateway } from '../gateway/helpers.ts';
import { startStandIn } from '../support/upstream.ts';

const ISS = 'https://idp.test';
const AUD = 'mlgate';
const now = (): number => Math.floor(Date.now() / 1000);
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

interface Claims { exp?: number | null; iat?: number | null; nbf?: number; iss?: string; aud?: string; [k: string]: unknown }

/** A loopback JWKS server with one RS256 key and a signer defaulting to a valid 5-minute token. */
async function idp(t: import('node:test').TestContext) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
  const srv = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ keys: [jwk] })); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const claimsOf = (c: Claims): Record<string, unknown> => {
    const out: Record<string, unknown> = { sub: 'tok-user', iss: ISS, aud: AUD, iat: now(), exp: now() + 300, ...c };
    for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
    return out;
  };
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`,
    sign: (c: Claims = {}, key: webcrypto.CryptoKey = privateKey) => new SignJWT(claimsOf(c)).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key),
    /** An unsigned token (`alg: none`, empty signature). */
    unsigned: (c: Claims = {}) => `${b64({ alg: 'none', kid: 'k1' })}.${b64(claimsOf(c))}.`,
    /** HS256 keyed with the public key's PEM (the classic RS256 -> HS256 confusion) and with its modulus. */
    confused: async (c: Claims = {}) => {
      const pem = await exportSPKI(publicKey);
      const n = Buffer.from(createPublicKey(pem).export({ format: 'jwk' }).n!, 'base64url');
      return Promise.all([new TextEncoder().encode(pem), n].map((secret) =>
        new SignJWT(claimsOf(c)).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret)));
    },
  };
}

function jwtConfig(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { jwt: { jwksUrl: url, issuer: ISS, audience: AUD, scopes: { 'predict:m': ['m'] }, ...extra } };
}

/** A gateway with JWT auth over a stand-in model; `refuse` checks a token gets a clean 401. */
async function setup(t: import('node:test').TestContext, jwtExtra: Record<string, unknown> = {}) {
  const up = await startStandIn({ name: 'm', t });
  const id = await idp(t);
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: up.url }) }, auth: jwtConfig(id.url, jwtExtra) });
  const predict = (token: string) => call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 }, headers: { authorization: `Bearer ${token}` } });
  const refuse = async (what: string, token: string, reason: string) => {
    const before = up.count;
    const r = await predict(token);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.json.error.code, 'MLG_GW_UNAUTHORIZED', what);
    assert.match(String(r.headers['www-authenticate']), /error="invalid_token"/, what);
    assert.ok(r.json.error.message.includes(`(${reason.replace(/_/g, ' ')})`), `${what}: the answer names the problem (${r.json.error.message})`);
    for (const part of [...token.split('.').filter((p) => p.length >= 16), 'tok-user', 'evil.test', 'other-api']) {
      assert.ok(!r.text.includes(part), `${what}: the answer does not echo the token`);
    }
    assert.equal(up.count, before, `${what}: nothing reached the model`);
  };
  const failures = async (reason: string): Promise<number> => {
    const m = await call(gw.metricsUrl, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return Number(new RegExp(`mlgate_gateway_auth_failures_total\\{reason="${reason}"[^}]*\\} (\\d+)`).exec(m.text)?.[1] ?? 0);
  };
  return { id, predict, refuse, failures };
}

const scope = 'predict:m';

test('a valid token gets 200, also within the clock tolerance and without iat', async (t) => {
  const { id, predict } = await setup(t);
  for (const [what, token] of [
    ['valid', await id.sign({ scope })],
    ['expired 10 s ago (tolerance 30 s)', await id.sign({ scope, exp: now() - 10 })],
    ['no iat, exp within the lifetime', await id.sign({ scope, iat: null, exp: now() + 3600 })],
    ['nbf 10 s ahead (tolerance 30 s)', await id.sign({ scope, nbf: now() + 10 })],
  ] as const) {
    const r = await predict(token);
    assert.equal(r.status, 200, `${what}: ${r.text}`);
  }
});

test('a token without exp gets 401', async (t) => {
  const { id, refuse } = await setup(t);
  await refuse('no exp', await id.sign({ scope, exp: null }), 'no_expiry');
  await refuse('no exp, no iat', await id.sign({ scope, exp: null, iat: null }), 'no_expiry');
});

test('a token living longer than maxLifetimeSec (default 24 h) gets 401', async (t) => {
  const { id, refuse } = await setup(t);
  const day = 86_400;
  await refuse('exp 2 days out, iat now', await id.sign({ scope, exp: now() + 2 * day }), 'lifetime_too_long');
  await refuse('exp 2 days out, no iat', await id.sign({ scope, iat: null, exp: now() + 2 * day }), 'lifetime_too_long');
  await refuse('exp - iat over a day (backdated iat)', await id.sign({ scope, iat: now() - day, exp: now() + 300 }), 'lifetime_too_long');
  await refuse('exp years out', await id.sign({ scope, exp: 9e9 }), 'lifetime_too_long');
});

test('maxLifetimeSec is configurable', async (t) => {
  const { id, predict, refuse } = await setup(t, { maxLifetimeSec: 3600 });
  await refuse('exp 2 h out', await id.sign({ scope, exp: now() + 7200 }), 'lifetime_too_long');
  assert.equal((await predict(await id.sign({ scope, exp: now() + 1800 }))).status, 200);
});

test('a wrong or missing issuer or audience gets 401', async (t) => {
  const { id, refuse } = await setup(t);
  await refuse('wrong issuer', await id.sign({ scope, iss: 'https://evil.test' }), 'wrong_issuer');
  await refuse('no issuer', await id.sign({ scope, iss: null as unknown as string }), 'wrong_issuer');
  await refuse('wrong audience', await id.sign({ scope, aud: 'other-api' }), 'wrong_audience');
  await refuse('no audience', await id.sign({ scope, aud: null as unknown as string }), 'wrong_audience');
});

test('alg none gets 401', async (t) => {
  const { id, refuse } = await setup(t);
  await refuse('alg none', id.unsigned({ scope }), 'bad_algorithm');
});

test('HS256 keyed with the public key (algorithm confusion) gets 401', async (t) => {
  const { id, refuse } = await setup(t);
  const [pem, modulus] = await id.confused({ scope });
  await refuse('HS256 keyed with the public key PEM', pem!, 'bad_algorithm');
  await refuse('HS256 keyed with the public key modulus', modulus!, 'bad_algorithm');
});

test('an expired, not yet valid or future-issued token gets 401', async (t) => {
  const { id, refuse } = await setup(t);
  await refuse('expired', await id.sign({ scope, iat: now() - 900, exp: now() - 600 }), 'expired');
  await refuse('nbf 10 min ahead', await id.sign({ scope, nbf: now() + 600 }), 'not_yet_valid');
  await refuse('iat 10 min ahead', await id.sign({ scope, iat: now() + 600, exp: now() + 900 }), 'not_yet_valid');
});

test('an oversized token gets 401 before it is decoded', async (t) => {
  const { id, predict, refuse, failures } = await setup(t);
  const big = await id.sign({ scope, pad: 'x'.repeat(9000) });
  await refuse('validly signed 9 KiB token', big, 'too_large');
  await refuse('9 KiB of garbage in three parts', `${'a'.repeat(9000)}.b.c`, 'too_large');
  assert.equal(await failures('too_large'), 2);
  assert.equal(await failures('malformed'), 0, 'the garbage was not decoded');
  assert.equal((await predict(await id.sign({ scope, pad: 'x'.repeat(5000) }))).status, 200, 'under 8 KiB passes');
});

test('JWT config: issuer and audience are required, the JWKS URL is https (http to loopback only), algorithms asymmetric', () => {
  const base = { models: { m: model({ v1: 'http://127.0.0.1:9' }) } };
  const rejects = (jwt: Record<string, unknown>, field: RegExp) =>
    assert.throws(() => gatewayConfig({ ...base, auth: { jwt } }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MLG_CORE_CONFIG_INVALID');
      assert.match(err.message, field);
      return true;
    });
  const url = 'https://idp.example/jwks.json';
  rejects({ jwksUrl: url, audience: AUD }, /auth\.jwt\.issuer: required/);
  rejects({ jwksUrl: url, issuer: ISS }, /auth\.jwt\.audience: required/);
  rejects({ jwksUrl: 'http://idp.example/jwks.json', issuer: ISS, audience: AUD }, /auth\.jwt\.jwksUrl: must be https/);
  rejects({ jwksUrl: 'http://127.0.0.1.nip.io/jwks.json', issuer: ISS, audience: AUD }, /auth\.jwt\.jwksUrl: must be https/);
  rejects({ jwksUrl: 'http://10.0.0.1/jwks.json', issuer: ISS, audience: AUD }, /auth\.jwt\.jwksUrl: must be https/);
  rejects({ jwksUrl: url, issuer: ISS, audience: AUD, algorithms: ['HS256'] }, /auth\.jwt\.algorithms\.0: expected an asymmetric/);
  rejects({ jwksUrl: url, issuer: ISS, audience: AUD, algorithms: ['none'] }, /auth\.jwt\.algorithms\.0: expected an asymmetric/);
  for (const ok of ['https://idp.example/jwks.json', 'http://127.0.0.1:8080/jwks.json', 'http://127.8.9.10/jwks.json', 'http://localhost:8080/jwks.json', 'http://[::1]:8080/jwks.json']) {
    const c = gatewayConfig({ ...base, auth: { jwt: { jwksUrl: ok, issuer: ISS, audience: [AUD, 'other'] } } });
    assert.equal(c.auth?.jwt?.maxLifetimeSec, 86_400, ok);
    assert.equal(c.auth?.jwt?.clockToleranceSec, 30, ok);
    assert.equal(c.auth?.jwt?.maxTokenBytes, 8192, ok);
  }
});
