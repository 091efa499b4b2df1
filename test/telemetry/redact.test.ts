import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, warmRedactor } from '../../services/telemetry/redact.ts';
import { DETECTORS } from '../../services/telemetry/pii-detectors.ts';

test('redact: JSON keeps its shape; configured paths (with *) and secret key names are masked', () => {
  const r = createRedactor({ budgetMs: 60_000, maxChars: 10_000, maskPaths: ['user.ssn', 'messages.*.name'] });
  const body = { user: { ssn: 'anything', id: 7, api_key: 'k' }, messages: [{ role: 'user', name: 'Ann', content: 'ip 10.0.0.7' }, { role: 'assistant', name: 'Bot' }], n: [1, 2.5, true, null] };
  const out = r.redact(JSON.stringify(body), 'application/json');
  assert.deepEqual(JSON.parse(out.text), {
    user: { ssn: '<MASKED>', id: 7, api_key: '<MASKED>' },
    messages: [{ role: 'user', name: '<MASKED>', content: 'ip <IP_ADDRESS>' }, { role: 'assistant', name: '<MASKED>' }],
    n: [1, 2.5, true, null],
  });
  assert.deepEqual(out.counts, { MASKED: 4, IP_ADDRESS: 1 });
  assert.equal(out.truncated, false);
  const masksObject = createRedactor({ budgetMs: 60_000, maxChars: 1000, maskPaths: ['profile'] }).redact('{"profile":{"a":"x","b":[1,2]}}', 'application/json');
  assert.equal(masksObject.text, '{"profile":{"a":"<MASKED>","b":["<MASKED>","<MASKED>"]}}', 'a masked object keeps its shape');
  assert.deepEqual(masksObject.counts, { MASKED: 1 });
  assert.equal(createRedactor({ budgetMs: 60_000, maxChars: 1000, maskKeys: [] }).redact('{"password":"x"}').text, '{"password":"x"}', 'maskKeys: [] turns name masking off');
});

test('redact: output is cut to maxChars after redaction, never through a surrogate pair nor a token', () => {
  const r = createRedactor({ budgetMs: 60_000, maxChars: 20 });
  const t = r.redact('write to someone.long@example.com please, and to more@example.com too', 'text/plain');
  assert.equal(t.text, 'write to <EMAIL> ', 'the word cut in two ("ple") is dropped');
  assert.equal(t.truncated, true);
  assert.deepEqual(t.counts, { EMAIL: 2, TRUNCATED: 1 });
  const e = createRedactor({ budgetMs: 60_000, maxChars: 4 }).redact('a b😀cd', 'text/plain');
  assert.equal(e.text, 'a ', 'half an emoji is dropped, and the token it was part of');
  const big = { items: Array.from({ length: 5000 }, (_, i) => ({ i, mail: `u${i}@example.com` })) };
  const j = createRedactor({ budgetMs: 60_000, maxChars: 200 }).redact(JSON.stringify(big), 'application/json');
  assert.equal(j.text.length, 200);
  assert.ok(j.truncated);
  assert.ok(!j.text.includes('@'), 'nothing past the redaction leaks through the cut');
  assert.ok((j.counts.EMAIL ?? 0) < 50, 'the walk stops at maxChars instead of scanning the whole body');
});

test('redact: long text straddling the cut is still redacted; binary bodies are not stored', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.' + 'eyJzdWIiOiJ4In0' + 'A'.repeat(600) + '.' + 'sig'.repeat(10);
  const r = createRedactor({ budgetMs: 60_000, maxChars: 100 }).redact('x'.repeat(90) + ' ' + jwt + ' tail', 'text/plain');
  assert.equal(r.text, 'x'.repeat(90) + ' <JWT> ');
  const bin = createRedactor({ budgetMs: 60_000, maxChars: 100 }).redact(Buffer.from([1, 2, 0, 3, 4]), 'application/octet-stream');
  assert.equal(bin.text, '<BINARY 5 bytes>');
});

test('redact: form bodies are decoded, redacted per value and re-joined; invalid JSON is scanned as text', () => {
  const r = createRedactor({ budgetMs: 60_000, maxChars: 1000 });
  const f = r.redact('email=a.b%40example.com&q=hello+world&password=hunter2', 'application/x-www-form-urlencoded');
  assert.equal(f.text, 'email=<EMAIL>&q=hello world&password=<MASKED>');
  const bad = r.redact('{"email": "x@example.com", oops', 'application/json');
  assert.equal(bad.text, '{"email": "<EMAIL>", oops');
});

test('redact: detector edge cases (versions, dates, invalid checksums are left alone)', () => {
  const r = createRedactor({ budgetMs: 60_000, maxChars: 10_000 });
  const keep = [
    'release v1.2.3.4 and version 10.0.0.1', '4111 1111 1111 1112', 'DE89 3704 0044 0532 0130 01', '000-12-3456 and 666-45-6789 and 912-34-5678',
    '2024-01-15 10:30:00', '300.1.2.3', 'std::vector<int>', '12:30:45', 'eyJub3QiOiJhIGp3dCJ9.eyJ4IjoxfQ.abc', 'sk-short',
  ];
  for (const s of keep) assert.equal(r.redact(s, 'text/plain').text, s, s);
  assert.equal(r.redact('hosts 8.8.8.8, fe80::1ff:fe23:4567:890a and 2001:0db8:0000:0000:0000:ff00:0042:8329.', 'text/plain').text, 'hosts <IP_ADDRESS>, <IP_ADDRESS> and <IP_ADDRESS>.');
  assert.equal(r.redact('{"mobile_version":"1.2.3.4567","phone":"n/a","cell":12}', 'application/json').text, '{"mobile_version":"1.2.3.4567","phone":"n/a","cell":12}', 'key hints need a phone-like value');
  assert.equal(r.redact('{"mobile":"(212) 555-0187","msisdn":447700900123}', 'application/json').text, '{"mobile":"<PHONE>","msisdn":"<PHONE>"}');
  assert.throws(() => createRedactor({ budgetMs: 60_000, maxChars: -1 }), /maxChars/);
  assert.throws(() => createRedactor({ budgetMs: 60_000, maxChars: 10, maskPaths: ['a..b'] }), /invalid path/);
});

test('the warm-up sample sets off every detector type, so no detector is compiled on a real event', () => {
  const seen = warmRedactor(createRedactor({ maxChars: 4096 }));
  const types = [...new Set(DETECTORS.map((d) => d.type))].sort();
  assert.deepEqual(types.filter((t) => !(seen[t]! > 0)), [], `not set off by the warm-up: ${JSON.stringify(seen)}`);
  assert.equal(seen.UNSCANNED, undefined);
  assert.ok(seen.MASKED! > 0, 'the secret-key path ran too');
});
