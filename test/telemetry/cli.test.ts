import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHasher } from '../../services/telemetry/hash.ts';

const MAIN = join(import.meta.dirname, '../../services/cli/main.ts');

function mlgate(args: string[], stdin: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MLGATE_')));
    const child = execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...clean, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    child.stdin!.end(stdin);
  });
}

test('mlgate hash prints the same keyed hash the gateway computes, with the key from the config or the environment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'mlgate.yaml');
  writeFileSync(cfg, 'telemetry:\n  hashing:\n    key: cli-test-key-0123456789\n    keyId: k9\n');
  const expected = createHasher({ key: 'cli-test-key-0123456789', keyId: 'k9' }).hashValue({ a: 1, b: 'x' });
  const r = await mlgate(['hash', '--config', cfg], '{ "b": "x",\n "a": 1.0 }');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), expected);
  const j = await mlgate(['hash', '--json'], '{"a":1,"b":"x"}', { MLGATE_HASH_KEY: 'cli-test-key-0123456789', MLGATE_HASH_KEY_ID: 'k9' });
  assert.deepEqual(JSON.parse(j.stdout), { hash: expected, hash_key_id: 'k9' });
  // Without --config: the default config (config/mlgate.yaml) and its demo key.
  const demo = await mlgate(['hash'], '{"a":1,"b":"x"}');
  assert.equal(demo.code, 0, demo.stderr);
  assert.equal(demo.stdout.trim(), createHasher({ key: 'mlgate-DEMO-hash-key-not-secret', keyId: 'demo1' }).hashValue({ a: 1, b: 'x' }));
  // A config without a key: a failure (exit 1) that says where the key comes from.
  const keyless = join(dir, 'keyless.yaml');
  writeFileSync(keyless, 'log: { level: warn }\n');
  const none = await mlgate(['hash', '--config', keyless], 'x');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /MLGATE_HASH_KEY/);
  const bad = await mlgate(['hash', '--nope'], 'x');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage: mlgate hash/);
});

test('mlgate redact prints the redacted JSON (shape kept) or text, with counts', async () => {
  const r = await mlgate(['redact'], JSON.stringify({ user: { email: 'ann@example.com', n: 5 }, note: 'call +44 20 7946 0958' }));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '{"user":{"email":"<EMAIL>","n":5},"note":"call <PHONE>"}');
  assert.match(r.stderr, /"EMAIL":1/);
  const j = await mlgate(['redact', '--json', '--content-type', 'text/plain', '--max-chars', '12'], 'card 4111-1111-1111-1111 ok');
  assert.deepEqual(JSON.parse(j.stdout), { text: 'card ', counts: { CREDIT_CARD: 1, TRUNCATED: 1 }, truncated: true });
  const bad = await mlgate(['redact', '--max-chars=-3'], 'x');
  assert.equal(bad.code, 2, 'a malformed argument is a usage error');
  assert.match(bad.stderr, /MLG_CORE_BAD_ARGUMENT: --max-chars/);
});
