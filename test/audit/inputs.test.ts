// Validation of every audit input without a warehouse: time ranges, ids and hashes, filters by
// name, cursors, config, tokens, and the CLI output formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MlgateError } from '../../services/core/errors.ts';
import { parseTime, parseTimeRange } from '../../services/audit/time-range.ts';
import { parseDimensions, parseHash, parseRequestFilter, parseTraceId, parseUuid, parseName } from '../../services/audit/filters.ts';
import { decodeCursor, encodeCursor } from '../../services/audit/listing.ts';
import { AuditSection } from '../../services/audit/config.ts';
import { authorize, createAuthenticator } from '../../services/audit/auth.ts';
import { csvField, toCsv, toTable } from '../../services/audit/format.ts';
import { parseSelector } from '../../services/audit/service.ts';

const NOW = Date.UTC(2025, 4, 20, 12, 0, 0);
const DAY = 86_400_000;
const opts = { now: NOW, defaultSpanMs: DAY, maxSpanMs: 31 * DAY };

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MlgateError, `expected an MlgateError, got ${String(err)}`);
    return `${err.code}: ${err.message}`;
  }
  assert.fail('expected an error');
}

test('time bounds: ISO dates and date-times (zone or UTC), epoch ms, now and relative forms', () => {
  assert.equal(parseTime('2025-05-01', NOW), Date.UTC(2025, 4, 1));
  assert.equal(parseTime('2025-05-01T10:20:30Z', NOW), Date.UTC(2025, 4, 1, 10, 20, 30));
  assert.equal(parseTime('2025-05-01T10:20:30.5Z', NOW), Date.UTC(2025, 4, 1, 10, 20, 30, 500));
  assert.equal(parseTime('2025-05-01 10:20', NOW), Date.UTC(2025, 4, 1, 10, 20));
  assert.equal(parseTime('2025-05-01T12:00:00+02:00', NOW), Date.UTC(2025, 4, 1, 10));
  assert.equal(parseTime('2025-05-01T12:00:00-0130', NOW), Date.UTC(2025, 4, 1, 13, 30));
  assert.equal(parseTime('1746100000000', NOW), 1746100000000);
  assert.equal(parseTime('now', NOW), NOW);
  assert.equal(parseTime('now-15m', NOW), NOW - 15 * 60_000);
  assert.equal(parseTime('-2h', NOW), NOW - 7_200_000);
  assert.equal(parseTime('-7d', NOW), NOW - 7 * DAY);
  assert.equal(parseTime('now-1w', NOW), NOW - 7 * DAY);
});

test('bad time bounds are refused with the field named and the accepted forms listed', () => {
  for (const bad of ['yesterday', '2025-02-30', '2025-13-01', '2025-05-01T25:00:00Z', '174610000', '2025-05-01T10:00:00+15:00', '1899-01-01', '-5y', "2025-05-01' OR 1=1"]) {
    const msg = code(() => parseTime(bad, NOW, 'from'));
    assert.match(msg, /^MLG_AUD_BAD_TIME_RANGE: from: cannot use/, bad);
  }
});

test('ranges: defaults, reversed, empty and too long', () => {
  assert.deepEqual(parseTimeRange({}, opts), { fromMs: NOW - DAY, toMs: NOW });
  assert.deepEqual(parseTimeRange({ to: '2025-05-10' }, opts), { fromMs: Date.UTC(2025, 4, 9), toMs: Date.UTC(2025, 4, 10) });
  assert.deepEqual(parseTimeRange({ from: '2025-05-10' }, opts), { fromMs: Date.UTC(2025, 4, 10), toMs: NOW });
  assert.match(code(() => parseTimeRange({ from: '2025-05-10', to: '2025-05-01' }, opts)), /from \(2025-05-10T00:00:00.000Z\) must be before to/);
  assert.match(code(() => parseTimeRange({ from: '2025-05-10', to: '2025-05-10' }, opts)), /must be before/);
  assert.match(code(() => parseTimeRange({ from: '2025-01-01', to: '2025-05-01' }, opts)), /spans more than the maximum of 31 days/);
});

test('ids and hashes must have their exact shapes', () => {
  assert.equal(parseHash('A'.repeat(64)), 'a'.repeat(64));
  assert.match(code(() => parseHash('abc')), /input_hash: "abc" is not a hash: expected 64 hex characters/);
  assert.match(code(() => parseHash(`${'a'.repeat(63)}g`)), /not a hash/);
  assert.match(code(() => parseHash(`${'a'.repeat(64)}' OR '1'='1`)), /not a hash/);
  assert.equal(parseUuid('01890A5D-AC96-774B-BCCE-B302099A8057'), '01890a5d-ac96-774b-bcce-b302099a8057');
  assert.match(code(() => parseUuid("1' OR 1=1")), /event_id: .* is not a UUID/);
  assert.equal(parseTraceId('4bf92f3577b34da6a3ce929d0e0e4736'), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.match(code(() => parseTraceId('0'.repeat(32))), /not a trace id/);
  assert.match(code(() => parseTraceId('4bf92f3577b34da6a3ce929d0e0e473')), /not a trace id/);
  assert.match(code(() => parseName('', 'consumer')), /consumer: "" must be 1 to 200 characters/);
  assert.match(code(() => parseName('a\nb', 'consumer')), /without control characters/);
  assert.equal(parseName("x' OR '1'='1", 'consumer'), "x' OR '1'='1"); // any text is a value: it is bound, never spliced
});

test('request filters: unknown fields are named, enums and numbers checked, repeated parameters refused', () => {
  const f = parseRequestFilter({ consumer: 'c1', outcome: 'timeout', status: '504', from: '2025-05-19' }, opts);
  assert.deepEqual(f.conditions.map((c) => [c.column, c.value]), [['consumer_id', 'c1'], ['outcome', 'timeout'], ['status', 504]]);
  assert.deepEqual(f.range, { fromMs: Date.UTC(2025, 4, 19), toMs: NOW });
  assert.match(code(() => parseRequestFilter({ consumer_id: 'c1' }, opts)), /unknown filter field "consumer_id"; known fields: consumer, model/);
  assert.match(code(() => parseRequestFilter({ outcome: 'fine' }, opts)), /outcome: "fine" is not one of ok, bad_request/);
  assert.match(code(() => parseRequestFilter({ role: 'boss' }, opts)), /role: "boss" is not one of stable/);
  assert.match(code(() => parseRequestFilter({ status: '5xx' }, opts)), /status: "5xx" must be a whole number from 0 to 999/);
  assert.match(code(() => parseRequestFilter({ model: ['a', 'b'] }, opts)), /model is given 2 times/);
  assert.match(code(() => parseRequestFilter({ model: { $ne: 1 } }, opts)), /model must be text/);
  assert.deepEqual(parseDimensions('consumer,day'), ['consumer', 'day']);
  assert.match(code(() => parseDimensions('consumer,ts')), /by: unknown dimension "ts"/);
  assert.match(code(() => parseDimensions('model,model')), /named twice/);
});

test('erasure selectors: exactly one of consumer, input_hash, subject', () => {
  assert.deepEqual(parseSelector({ consumer: 'c1' }), { kind: 'consumer', value: 'c1' });
  assert.match(code(() => parseSelector({})), /give exactly one of consumer, input_hash, subject \(got none\)/);
  assert.match(code(() => parseSelector({ consumer: 'c', input_hash: 'h' })), /got consumer, input_hash/);
  assert.match(code(() => parseSelector({ email: 'x@y' })), /unknown erasure field "email"/);
});

test('cursors round-trip for their query only and reject anything else', () => {
  const c = encodeCursor({ ts: 1_790_000_000_123, id: '01890a5d-ac96-774b-bcce-b302099a8057' }, 'q1');
  assert.deepEqual(decodeCursor(c, 'q1'), { ts: 1_790_000_000_123, id: '01890a5d-ac96-774b-bcce-b302099a8057' });
  assert.match(code(() => decodeCursor(c, 'q2')), /MLG_AUD_BAD_CURSOR: cursor belongs to another query/);
  assert.match(code(() => decodeCursor('not a cursor!', 'q1')), /MLG_AUD_BAD_CURSOR/);
  assert.match(code(() => decodeCursor(Buffer.from('["x","y","z"]').toString('base64url'), 'q1')), /cursor is malformed/);
});

test('config: defaults, token rules, limits', () => {
  const a = AuditSection.parse({});
  assert.equal(a.host, '127.0.0.1');
  assert.equal(a.pageSize, 100);
  assert.deepEqual(a.tokens, []);
  assert.throws(() => AuditSection.parse({ tokens: [{ name: 'x', token: 'short', role: 'audit' }] }), /at least 24 characters/);
  assert.throws(() => AuditSection.parse({ tokens: [{ name: 'x', token: 't'.repeat(30), role: 'root' }] }), /role/);
  const dup = { token: 't'.repeat(30), role: 'audit' };
  assert.throws(() => AuditSection.parse({ tokens: [{ name: 'a', ...dup }, { name: 'b', ...dup }] }), /same token as tokens.0/);
  assert.throws(() => AuditSection.parse({ pageSize: 500, maxPageSize: 100 }), /pageSize must not exceed maxPageSize/);
  assert.throws(() => AuditSection.parse({ chainId: 'has space' }), /chainId/);
  assert.throws(() => AuditSection.parse({ bogus: 1 }), /bogus/);
});

test('tokens: bearer only, constant-time match, admin above audit', () => {
  const auth = createAuthenticator([
    { name: 'reader', token: 'r'.repeat(30), role: 'audit' }, { name: 'boss', token: 'b'.repeat(30), role: 'admin' },
  ]);
  assert.deepEqual(auth(`Bearer ${'r'.repeat(30)}`), { name: 'reader', role: 'audit' });
  assert.deepEqual(auth(`bearer ${'b'.repeat(30)}`), { name: 'boss', role: 'admin' });
  assert.match(code(() => auth(undefined)), /MLG_AUD_UNAUTHORIZED/);
  assert.match(code(() => auth(`Basic ${'r'.repeat(30)}`)), /MLG_AUD_UNAUTHORIZED/);
  assert.match(code(() => auth(`Bearer ${'r'.repeat(29)}`)), /not valid/);
  assert.match(code(() => authorize({ name: 'reader', role: 'audit' }, 'admin')), /MLG_AUD_FORBIDDEN: .*needs the admin role/);
  authorize({ name: 'boss', role: 'admin' }, 'audit');
});

test('output formats: RFC 4180 CSV quoting, aligned tables with cut cells', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(null), '');
  assert.equal(csvField({ EMAIL: 1 }), '"{""EMAIL"":1}"');
  assert.equal(toCsv([{ a: 1, b: 'x' }, { a: 2 }]), 'a,b\r\n1,x\r\n2,\r\n');
  const t = toTable([{ id: 1, text: 'x'.repeat(100) }], undefined, 10).split('\n');
  assert.equal(t[0], 'id  text');
  assert.equal(t[2], `1   ${'x'.repeat(9)}…`);
});
