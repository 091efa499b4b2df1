/**
 * TLS end to end with a CA made in the test (openssl): client -> gateway over HTTPS (the client
 * trusts only the test CA), gateway -> an HTTPS stand-in that trusts the same CA and demands a
 * client certificate (mutual TLS). Without the CA bundle the gateway cannot reach the upstream.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { startTestGateway } from '../helpers.ts';

/** A CA and leaf certificates signed by it, as PEM files in a temp dir. */
function makePki(t: TestContext): { dir: string; file: (n: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=mlgate test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, ext: string) => {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(file(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  return { dir, file };
}

test('HTTPS from the client to the gateway and from the gateway to an mTLS upstream', async (t) => {
  const pki = makePki(t);
  const ca = readFileSync(pki.file('ca.crt'));
  const seen: Array<{ path: string; clientCn: string }> = [];
  const upstream = createServer({
    cert: readFileSync(pki.file('server.crt')), key: readFileSync(pki.file('server.key')), ca, requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    seen.push({ path: req.url ?? '', clientCn: String(peer.subject?.CN ?? '') });
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ label: 'ok', via: 'tls' })); });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { upstream.closeAllConnections(); upstream.close(() => r()); }));
  const upUrl = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const { gw, sink } = await startTestGateway(t, {
    tls: { cert: pki.file('server.crt'), key: pki.file('server.key') },
    models: {
      m: { versions: { v1: { targets: [upUrl], tls: { ca: pki.file('ca.crt'), cert: pki.file('client.crt'), key: pki.file('client.key') } } } },
      noca: { versions: { v1: { targets: [upUrl], retries: 0 } } },
    },
  });
  assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const client = new Agent({ connect: { ca } });
  t.after(() => client.close());

  const res = await request(`${gw.url}/v1/models/m/predict`, {
    method: 'POST', body: JSON.stringify({ x: 1 }), headers: { 'content-type': 'application/json' }, dispatcher: client,
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  assert.deepEqual(JSON.parse(text), { label: 'ok', via: 'tls' });
  assert.equal(seen.length, 1, 'the upstream got the request');
  assert.equal(seen[0]!.clientCn, 'client', 'the gateway presented its client certificate');

  // A client that does not trust the test CA cannot talk to the gateway.
  await assert.rejects(request(`${gw.url}/healthz`), (err: Error & { code?: string }) => /CERT|SELF_SIGNED|UNABLE/i.test(`${err.code ?? ''} ${err.message}`));

  // A version without the CA bundle (and without a client certificate) cannot reach the upstream.
  const bad = await request(`${gw.url}/v1/models/noca/predict`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, dispatcher: client });
  const badText = await bad.body.text();
  assert.equal(bad.statusCode, 502, badText);
  assert.equal(seen.length, 1, 'nothing got through without TLS trust');

  await sink.waitFor(2);
  assert.equal(sink.events.find((e) => e.model === 'm')!.outcome, 'ok');
  assert.equal(sink.events.find((e) => e.model === 'noca')!.outcome, 'upstream_error');
});
