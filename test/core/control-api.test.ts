import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Registry, Counter } from 'prom-client';
import { controlApi } from '../../services/core/control-api.ts';
import { errorFactory } from '../../services/core/errors.ts';

const E = {
  unauthorized: errorFactory({ code: 'MLG_TESTAPI_UNAUTHORIZED', status: 401, description: 'test: no valid token', action: 'test' }),
  forbidden: errorFactory({ code: 'MLG_TESTAPI_FORBIDDEN', status: 403, description: 'test: role too low', action: 'test' }),
  notFound: errorFactory({ code: 'MLG_TESTAPI_NOT_FOUND', status: 404, description: 'test: no route', action: 'test' }),
  badRequest: errorFactory({ code: 'MLG_TESTAPI_BAD_REQUEST', status: 400, description: 'test: bad request', action: 'test' }),
  internal: errorFactory({ code: 'MLG_TESTAPI_INTERNAL', status: 500, description: 'test: internal', action: 'test' }),
  conflict: errorFactory({ code: 'MLG_TESTAPI_CONFLICT', status: 409, description: 'test: a catalogue error a route throws', action: 'test' }),
};
const READER = 'r'.repeat(24);
const WRITER = 'w'.repeat(24);
const SECRET = 'db password is hunter2 at 10.0.0.7';

function app(opts: { defaultRole?: 'reader' | 'writer' } = {}) {
  const a = Fastify({ logger: false });
  const registry = new Registry();
  new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc();
  controlApi(a, {
    name: 'test', roles: ['reader', 'writer'], errors: E, metrics: { registry }, health: () => ({ leader: true }),
    tokens: [{ name: 'alice', token: READER, role: 'reader' }, { name: 'bob', token: WRITER, role: 'writer' }],
    ...(opts.defaultRole ? { defaultRole: opts.defaultRole } : {}),
  });
  a.get('/read', { config: { role: 'reader' } }, async (req) => ({ actor: req.principal?.name }));
  a.post('/write', { config: { role: 'writer' } }, async (req) => ({ actor: req.principal?.name }));
  a.get('/open', async () => ({ open: true }));
  a.get('/conflict', { config: { role: 'reader' } }, async () => { throw E.conflict('rollout r1 already exists', { details: { id: 'r1' } }); });
  a.get('/boom', { config: { role: 'reader' } }, async () => { throw new Error(SECRET); });
  return a;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

test('control API: a missing or malformed Authorization header is 401 with the area code', async () => {
  const a = app();
  for (const headers of [{}, { authorization: READER }, { authorization: `Basic ${READER}` }]) {
    const r = await a.inject({ method: 'GET', url: '/read', headers });
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().error.code, 'MLG_TESTAPI_UNAUTHORIZED');
    assert.match(r.json().error.message, /Bearer <token>/);
  }
});

test('control API: a wrong token is 401, whether a prefix, longer, or another', async () => {
  const a = app();
  for (const t of [READER.slice(0, -1), `${READER}x`, 'x'.repeat(24)]) {
    const r = await a.inject({ method: 'GET', url: '/read', headers: bearer(t) });
    assert.equal(r.statusCode, 401, t);
    assert.equal(r.json().error.code, 'MLG_TESTAPI_UNAUTHORIZED');
    assert.match(r.json().error.message, /not valid/);
  }
});

test('control API: roles rank; a lower role is 403 naming the role needed and the token', async () => {
  const a = app();
  const r = await a.inject({ method: 'POST', url: '/write', headers: bearer(READER) });
  assert.equal(r.statusCode, 403);
  assert.equal(r.json().error.code, 'MLG_TESTAPI_FORBIDDEN');
  assert.match(r.json().error.message, /needs the writer role; token alice has the reader role/);
  assert.deepEqual((await a.inject({ method: 'POST', url: '/write', headers: bearer(WRITER) })).json(), { actor: 'bob' });
  assert.deepEqual((await a.inject({ method: 'GET', url: '/read', headers: bearer(WRITER) })).json(), { actor: 'bob' }, 'a higher role may read');
  assert.deepEqual((await a.inject({ method: 'GET', url: '/read', headers: bearer(READER) })).json(), { actor: 'alice' });
});

test('control API: an unknown route is 404 naming method and path; with a default role it needs a token first', async () => {
  const open = app();
  const r = await open.inject({ method: 'DELETE', url: '/nope?x=1' });
  assert.equal(r.statusCode, 404);
  assert.deepEqual(r.json(), { error: { code: 'MLG_TESTAPI_NOT_FOUND', message: 'no test route for DELETE /nope' } });
  const long = await open.inject({ method: 'GET', url: `/${'a'.repeat(500)}` });
  assert.ok(long.json().error.message.length < 260, 'a long path is cut');
  const closed = app({ defaultRole: 'reader' });
  assert.equal((await closed.inject({ method: 'GET', url: '/nope' })).statusCode, 401, 'unknown paths reveal nothing without a token');
  assert.equal((await closed.inject({ method: 'GET', url: '/nope', headers: bearer(READER) })).statusCode, 404);
  assert.equal((await closed.inject({ method: 'GET', url: '/open' })).statusCode, 401, 'routes without a role take the default');
  assert.equal((await closed.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'health stays open');
});

test('control API: a thrown catalogue error reaches the client with its status, code, message and details', async () => {
  const r = await app().inject({ method: 'GET', url: '/conflict', headers: bearer(READER) });
  assert.equal(r.statusCode, 409);
  assert.deepEqual(r.json(), { error: { code: 'MLG_TESTAPI_CONFLICT', message: 'rollout r1 already exists', details: { id: 'r1' } } });
});

test('control API: a thrown unknown error is 500 with the area code and none of its text', async () => {
  const r = await app().inject({ method: 'GET', url: '/boom', headers: bearer(READER) });
  assert.equal(r.statusCode, 500);
  assert.equal(r.json().error.code, 'MLG_TESTAPI_INTERNAL');
  assert.ok(!r.body.includes('hunter2') && !r.body.includes('10.0.0.7'), r.body);
});

test('control API: a body that does not parse is the area bad request; health and metrics are open', async () => {
  const a = app();
  const bad = await a.inject({ method: 'POST', url: '/write', headers: { ...bearer(WRITER), 'content-type': 'application/json' }, payload: '{not json' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'MLG_TESTAPI_BAD_REQUEST');
  assert.deepEqual((await a.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok', leader: true });
  const m = await a.inject({ method: 'GET', url: '/metrics' });
  assert.equal(m.statusCode, 200);
  assert.match(m.body, /test_things_total 1/);
});
