/**
 * Hostile input on the data plane and the admin API, through a running gateway on 127.0.0.1:
 * dot segments in the forwarded path, slow or idle clients and too many connections, headers
 * named in `Connection`, upstream response headers that must not reach clients, audit actors
 * taken from a client header, and ids that name `Object.prototype` members.
 *
 * Raw `net` sockets (and `node:http` with an explicit path) are used where a client library
 * would normalise or complete what the test must send as is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { MemoryAdminChangeRecorder } from '../../services/ledger/admin-changes.ts';
import { GatewaySection } from '../../services/gateway/config.ts';
import { parseConfig } from '../../services/core/config.ts';
import { startStandIn } from '../support/upstream.ts';
import { ADMIN_TOKEN, admin, call, model, startTestGateway } from '../gateway/helpers.ts';

/** What a raw exchange on one socket saw. */
interface RawResult {
  /** Everything the server sent. */
  text: string;
  /** True when the server closed the connection before the deadline. */
  closed: boolean;
  /** ms from the last write to the close (or to the deadline). */
  ms: number;
}

/** Opens a socket to `port` and waits until it is connected. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Writes `data` on a socket (a new one when a port is given) and collects what comes back until
 * the server closes it or `deadlineMs` passes.
 */
async function rawExchange(target: number | Socket, data: string, deadlineMs = 5_000): Promise<RawResult & { socket: Socket }> {
  const socket = typeof target === 'number' ? await open(target) : target;
  return new Promise((resolve) => {
    let text = '';
    const t0 = performance.now();
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.off('data', onData);
      if (!closed) socket.destroy(); // a connection the server kept must not hold the gateway's close
      resolve({ text, closed, ms: performance.now() - t0, socket });
    };
    const onData = (c: Buffer) => { text += c.toString('latin1'); };
    socket.on('data', onData);
    socket.once('close', () => done(true));
    socket.on('error', () => {});
    const timer = setTimeout(() => done(false), deadlineMs);
    if (data) socket.write(data);
  });
}

/** Waits (with a deadline) until `text` holds one complete response with a content-length body. */
function readResponse(socket: Socket, deadlineMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => { socket.off('data', onData); reject(new Error(`no complete response in ${deadlineMs} ms: ${text}`)); }, deadlineMs);
    const onData = (c: Buffer) => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length >= end + 4 + len) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}

/** A request with the path sent exactly as given (undici and fetch would normalise dot segments). */
function rawPath(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; json: any }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        let json: unknown;
        try { json = JSON.parse(body); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** An upstream that answers with the headers it is told to (the stand-in sends fixed ones). */
async function headerUpstream(t: TestContext, headers: Record<string, string | string[]>): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ ok: true });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const portOf = (url: string): number => Number(new URL(url).port);

test('dot segments (raw, percent-encoded, with encoded separators) never reach the upstream', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw, sink } = await startTestGateway(t, { models: { m: model({ v1: `${up.url}/base` }) } });
  const hostile = [
    '/v1/models/m/../../../etc/secret',
    '/v1/models/m/./predict',
    '/v1/models/m/x/..',
    '/v1/models/m/%2e%2e/%2e%2e/etc/secret',
    '/v1/models/m/%2E%2E/etc',
    '/v1/models/m/%2E./etc',
    '/v1/models/m/.%2e/etc',
    '/v1/models/m/%2e/predict',
    '/v1/models/m/x%2f..%2f..%2fetc',
    '/v1/models/m/x%2F%2e%2E%2Fetc',
    '/v1/models/m/x%5c..%5c..%5cetc',
    '/v1/models/m/x\\..\\..\\etc',
    '/v1/models/m/x%00.json',
  ];
  for (const path of hostile) {
    const r = await rawPath(gw.url, 'GET', path);
    assert.equal(r.status, 400, path);
    assert.equal(r.json.error.code, 'MLG_GW_BAD_PATH', path);
  }
  assert.equal(up.count, 0, `nothing reached the upstream: ${up.requests.map((q) => q.path).join(' ')}`);
  const r = await rawPath(gw.url, 'POST', '/v1/models/m/predict');
  assert.equal(r.status, 200);
  // Dots inside a segment and anything in the query are not dot segments.
  const fine = await rawPath(gw.url, 'GET', '/v1/models/m/a.b/..c/...?next=../../x');
  assert.equal(fine.status, 200);
  assert.deepEqual(up.requests.map((q) => q.path), ['/base/predict', '/base/a.b/..c/...?next=../../x']);
  const ev = sink.events.find((e) => e.outcome === 'bad_request');
  assert.ok(ev, 'the refusal has its event');
});

test('slow or idle clients are cut at the configured deadlines; connections above the cap are refused', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const listener = { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300 };
  const { gw } = await startTestGateway(t, { listener, models: { m: model({ v1: up.url }) } });
  const port = portOf(gw.url);

  // half the headers, then silence
  const half = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: 1\r\n');
  assert.ok(half.closed, 'a client sending half its headers is disconnected');
  assert.ok(half.ms < 2_500, `cut after ${half.ms} ms`);

  // a connection that sends nothing at all
  const silent = await rawExchange(port, '');
  assert.ok(silent.closed && silent.ms < 2_500, `a silent connection is cut (${silent.ms} ms)`);

  // half a body, on the fast path (known length, JSON) and on fastify's path (chunked)
  const fast = await rawExchange(port, 'POST /v1/models/m/predict HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"x":');
  assert.ok(fast.closed && fast.ms < 2_500, `half a body on the fast path is cut (${fast.ms} ms)`);
  const slow = await rawExchange(port, 'POST /v1/models/m/other HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"x":');
  assert.ok(slow.closed && slow.ms < 2_500, `half a chunked body is cut (${slow.ms} ms)`);
  assert.equal(up.count, 0, 'no half request reached the upstream');

  // an idle keep-alive connection is closed after keepAliveTimeoutMs
  const s = await open(port);
  s.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
  assert.match(await readResponse(s), /^HTTP\/1\.1 200/);
  const idle = await rawExchange(s, '');
  assert.ok(idle.closed && idle.ms < 2_500, `an idle keep-alive connection is closed (${idle.ms} ms)`);

  // a slow upstream is not a slow client: the request deadline ends with the body
  up.set({ delayMs: 900 });
  const r = await call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 } });
  assert.equal(r.status, 200, 'an answer slower than requestTimeoutMs still arrives');
});

test('connections above listener.maxConnections are refused', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw } = await startTestGateway(t, { listener: { maxConnections: 2 }, models: { m: model({ v1: up.url }) } });
  const port = portOf(gw.url);
  const held: Socket[] = [];
  t.after(() => { for (const s of held) s.destroy(); });
  for (let i = 0; i < 2; i++) {
    const s = await open(port);
    held.push(s);
    s.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
    assert.match(await readResponse(s), /^HTTP\/1\.1 200/, 'the first two connections are served');
  }
  const third = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
  assert.ok(third.closed, 'the third connection is closed');
  assert.equal(third.text, '', 'and gets no answer');
  held.pop()!.destroy();
  // once one closes, a new connection is served again (the server sees the close first)
  const deadline = Date.now() + 5_000;
  for (;;) {
    const again = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    if (/^HTTP\/1\.1 200/.test(again.text)) break;
    assert.ok(Date.now() < deadline, 'a connection is served again once one closed');
    await new Promise((r) => setTimeout(r, 20));
  }
});

test('headers named in Connection and every hop-by-hop header are stripped both ways', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const upUrl = await headerUpstream(t, { connection: 'x-up-secret', 'x-up-secret': 'internal', 'keep-alive': 'timeout=5', 'x-up-kept': 'yes' });
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: up.url }), n: model({ v1: upUrl }) } });
  const port = portOf(gw.url);
  const req = [
    'POST /v1/models/m/predict HTTP/1.1', 'Host: gw', 'Connection: close, X-Secret, x-other-secret',
    'X-Secret: s1', 'X-Other-Secret: s2', 'X-Kept: k', 'Keep-Alive: timeout=5', 'TE: trailers', 'Proxy-Connection: keep-alive',
    'Trailer: x-t', 'content-type: application/json', 'content-length: 7', '', '{"x":1}',
  ].join('\r\n');
  const res = await rawExchange(port, req);
  assert.match(res.text, /^HTTP\/1\.1 200/);
  assert.equal(up.count, 1);
  const h = up.requests[0]!.headers;
  for (const name of ['x-secret', 'x-other-secret', 'keep-alive', 'te', 'proxy-connection', 'trailer']) assert.equal(h[name], undefined, name);
  assert.equal(h['x-kept'], 'k');
  // same on fastify's path
  const res2 = await rawExchange(port, ['GET /v1/models/m/info HTTP/1.1', 'Host: gw', 'Connection: close, x-secret', 'x-secret: s1', '', ''].join('\r\n'));
  assert.match(res2.text, /^HTTP\/1\.1 200/);
  assert.equal(up.requests[1]!.headers['x-secret'], undefined);

  const back = await call(`${gw.url}/v1/models/n/predict`, { body: { x: 1 } });
  assert.equal(back.status, 200);
  assert.equal(back.headers['x-up-secret'], undefined, 'a header the upstream named in Connection');
  assert.notEqual(back.headers['keep-alive'], 'timeout=5', 'the upstream\'s keep-alive (the gateway sends its own)');
  assert.equal(back.headers['x-up-kept'], 'yes');
});

test('upstream response headers are filtered: deny list by default, allow list per model', async (t) => {
  const leaky = { 'set-cookie': ['sid=upstream; HttpOnly', 'b=2'], server: 'gunicorn/19.9', 'x-powered-by': 'Flask', 'x-model-info': 'ok', 'x-mlgate-version': 'forged', 'x-mlgate-cache': 'hit' };
  const upUrl = await headerUpstream(t, leaky);
  const { gw } = await startTestGateway(t, {
    models: {
      open: model({ v1: upUrl }),
      strict: model({ v1: upUrl }, { responseHeaders: { allow: ['x-model-info'] } }),
      loose: model({ v1: upUrl }, { responseHeaders: { deny: [] } }),
    },
  });
  const open = await call(`${gw.url}/v1/models/open/predict`, { body: { x: 1 } });
  assert.equal(open.status, 200);
  for (const name of ['set-cookie', 'server', 'x-powered-by', 'x-mlgate-cache']) assert.equal(open.headers[name], undefined, name);
  assert.equal(open.headers['x-model-info'], 'ok');
  assert.equal(open.headers['x-mlgate-version'], 'v1', 'the gateway\'s own header, not the upstream\'s');
  assert.equal(open.headers['content-type'], 'application/json');

  const strict = await call(`${gw.url}/v1/models/strict/predict`, { body: { x: 1 } });
  assert.equal(strict.headers['x-model-info'], 'ok');
  assert.equal(strict.headers['content-type'], 'application/json', 'content headers always pass');
  assert.equal(strict.headers['set-cookie'], undefined);
  assert.deepEqual(strict.json, { ok: true });

  const loose = await call(`${gw.url}/v1/models/loose/predict`, { body: { x: 1 } });
  assert.deepEqual(loose.headers['set-cookie'], ['sid=upstream; HttpOnly', 'b=2'], 'an empty deny list lets them through');
  assert.equal(loose.headers['x-mlgate-cache'], undefined, 'x-mlgate-* from an upstream never pass');
});

test('admin actors come from named tokens, never from x-mlgate-actor', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const recorder = new MemoryAdminChangeRecorder();
  const alice = 'alice-token-0123456789abcdef';
  const { gw } = await startTestGateway(t, {
    admin: { tokens: [{ name: 'alice', token: alice }, { name: 'bob', token: 'bob-token-0123456789abcdef' }] },
    models: { m: model({ a: up.url, b: up.url }, { weights: { a: 90, b: 10 } }) },
  }, { recorder });
  const put = (token: string, weights: Record<string, number>, headers: Record<string, string> = {}) =>
    call(`${gw.adminUrl}/admin/models/m/weights`, { method: 'PUT', body: { weights }, headers: { authorization: `Bearer ${token}`, ...headers } });
  let r = await put(alice, { a: 80, b: 20 }, { 'x-mlgate-actor': 'mallory' });
  assert.equal(r.status, 200, r.text);
  r = await put(ADMIN_TOKEN, { a: 70, b: 30 }, { 'x-mlgate-actor': 'mallory' });
  assert.equal(r.status, 200, r.text);
  r = await put('bob-token-0123456789abcdef', { a: 60, b: 40 });
  assert.equal(r.status, 200, r.text);
  assert.equal((await put('mallory-token-0123456789', { a: 0, b: 100 })).status, 401);
  assert.deepEqual(recorder.changes.map((c) => c.actor), ['alice', 'admin', 'bob']);
  assert.equal(gw.routing.get('m')!.cause.actor, 'bob');

  assert.throws(() => parseConfig(GatewaySection, { admin: { tokens: [{ name: 'x', token: alice }, { name: 'y', token: alice }] }, models: { m: model({ a: up.url }) } }), /admin\.tokens\.1\.token/);
  assert.throws(() => parseConfig(GatewaySection, { admin: { token: ADMIN_TOKEN, tokens: [{ name: 'admin', token: alice }] }, models: { m: model({ a: up.url }) } }), /admin\.tokens\.0\.name/);
});

test('ids naming Object.prototype members are unknown, not 500s, and never become versions', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw } = await startTestGateway(t, {
    models: { m: model({ a: up.url, b: up.url }, { weights: { a: 90, b: 10 } }) },
    consumers: { acme: { keys: [], models: ['m'] } },
  });
  for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    const get = await admin(gw, 'GET', `/admin/consumers/${id}`);
    assert.equal(get.status, 400, `GET ${id}: ${get.text}`);
    assert.equal(get.json.error.code, 'MLG_GW_ADMIN_INVALID');
    const del = await admin(gw, 'DELETE', `/admin/consumers/${id}`, {});
    assert.equal(del.status, 400, `DELETE ${id}: ${del.text}`);
    const key = await admin(gw, 'POST', `/admin/consumers/${id}/keys`, { hash: `sha256:0123abcd:${'0'.repeat(64)}` });
    assert.equal(key.status, 400, `POST keys ${id}: ${key.text}`);
    assert.equal((await admin(gw, 'GET', `/admin/routing/${id}`)).status, 404);
    assert.equal((await call(`${gw.url}/v1/models/${id}/predict`, { body: { x: 1 } })).status, 404);
  }
  const w = await admin(gw, 'PUT', '/admin/models/m/weights', { weights: { constructor: 0 } });
  assert.equal(w.status, 400, w.text);
  assert.deepEqual(gw.routing.get('m')!.versions.map((v) => v.name), ['a', 'b']);
  assert.deepEqual((await admin(gw, 'GET', '/admin/consumers')).json.consumers.map((c: { id: string }) => c.id), ['acme']);
  // the config file is held to the same rule
  assert.throws(() => parseConfig(GatewaySection, { admin: { token: ADMIN_TOKEN }, models: { m: model({ a: up.url }, { weights: { constructor: 100 } }) } }), /constructor is not a version/);
  assert.throws(() => parseConfig(GatewaySection, { admin: { token: ADMIN_TOKEN }, models: { m: model({ a: up.url }, { fallback: 'toString' }) } }), /toString is not a version/);
});

test('request smuggling and header floods are refused by the listener', async (t) => {
  const up = await startStandIn({ name: 'v1', t });
  const { gw } = await startTestGateway(t, { models: { m: model({ v1: up.url }) } });
  const port = portOf(gw.url);
  const smuggle = await rawExchange(port, [
    'POST /v1/models/m/predict HTTP/1.1', 'Host: gw', 'content-type: application/json', 'Content-Length: 7', 'Transfer-Encoding: chunked', '',
    '0', '', 'GET /v1/models/m/smuggled HTTP/1.1', 'Host: gw', '', ''].join('\r\n'));
  assert.match(smuggle.text, /^HTTP\/1\.1 400/, 'Transfer-Encoding with Content-Length is a 400');
  assert.equal(up.count, 0);
  const flood = Array.from({ length: 3000 }, (_, i) => `x-h${i}: v`).join('\r\n');
  const many = await rawExchange(port, `GET /v1/models/m/info HTTP/1.1\r\nHost: gw\r\n${flood}\r\n\r\n`);
  assert.match(many.text, /^HTTP\/1\.1 431/, 'more header bytes than the limit: 431');
  assert.equal(up.count, 0);
  // an absurd pin is refused without echoing it whole
  const pin = await call(`${gw.url}/v1/models/m/predict`, { body: { x: 1 }, headers: { 'x-mlgate-version': 'v'.repeat(5000) } });
  assert.equal(pin.status, 400);
  assert.ok(pin.text.length < 1000, `the error does not echo the header (${pin.text.length} bytes)`);
});
