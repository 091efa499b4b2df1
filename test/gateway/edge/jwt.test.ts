/**
 * JwtVerifier without a gateway: local keys, the refusal reason of each bad token, setup errors
 * (symmetric or private JWKs, a plain-http JWKS URL to another host), and which hosts count as
 * loopback for a plain-http JWKS URL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ConsumerTable } from '../../../services/gateway/edge/consumers.ts';
import { isLoopbackHost, JwtSchema } from '../../../services/gateway/edge/edge-config.ts';
import { JwtVerifier } from '../../../services/gateway/edge/jwt.ts';

const now = (): number => Math.floor(Date.now() / 1000);

test('isLoopbackHost: localhost, 127.0.0.0/8 and ::1 only', () => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.255.0.9', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['127.0.0.1.nip.io', 'localhost.evil.test', '128.0.0.1', '127.0.0.256', '10.0.0.1', '0.0.0.0', '::ffff:127.0.0.1', 'idp.example']) {
    assert.ok(!isLoopbackHost(h), h);
  }
});

test('JwtVerifier: reasons of refusal, the consumer of a valid token', async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const cfg = JwtSchema.parse({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }], issuer: 'https://idp.test', audience: 'mlgate', maxLifetimeSec: 600 });
  const v = new JwtVerifier(cfg, new ConsumerTable({}));
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ sub: 'u1', iss: 'https://idp.test', aud: 'mlgate', iat: now(), exp: now() + 60, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);

  const ok = await v.verify(await sign({}));
  assert.ok(ok.ok && ok.consumer.id === 'u1' && ok.consumer.via === 'jwt');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ exp: undefined }, 'no_expiry'],
    [{ exp: 'tomorrow' }, 'bad_claims'],
    [{ exp: now() + 3600 }, 'lifetime_too_long'],
    [{ iat: now() + 120, exp: now() + 180 }, 'not_yet_valid'],
    [{ iss: 'https://evil.test' }, 'wrong_issuer'],
    [{ aud: ['a', 'b'] }, 'wrong_audience'],
    [{ sub: undefined }, 'no_consumer'],
  ];
  for (const [claims, reason] of cases) assert.deepEqual(await v.verify(await sign(claims)), { ok: false, reason }, JSON.stringify(claims));
  assert.deepEqual(await v.verify('x'.repeat(8193)), { ok: false, reason: 'too_large' });
  assert.deepEqual(await v.verify('a.b.c'), { ok: false, reason: 'malformed' });
});

test('JwtVerifier setup refuses symmetric and private keys and a plain-http JWKS URL to another host', async () => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const base = { issuer: 'https://idp.test', audience: 'mlgate' };
  const table = new ConsumerTable({});
  const privateJwk = { ...(await exportJWK(privateKey)), kid: 'k1' };
  assert.throws(() => new JwtVerifier(JwtSchema.parse({ ...base, keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }), table), { code: 'MLG_EDGE_SETUP' });
  assert.throws(() => new JwtVerifier(JwtSchema.parse({ ...base, keys: [privateJwk] }), table), { code: 'MLG_EDGE_SETUP' });
  // A config that skipped the schema still cannot fetch keys in clear text from another host.
  const unchecked = { ...JwtSchema.parse({ ...base, jwksUrl: 'https://idp.example/jwks.json' }), jwksUrl: 'http://idp.example/jwks.json' };
  assert.throws(() => new JwtVerifier(unchecked, table), { code: 'MLG_EDGE_SETUP', message: /jwksUrl must be https/ });
});
