/**
 * The gateway config: defaults, and invalid values named by their path (in process and through
 * `mlgate gateway --config FILE`, which stops before listening).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, parseConfig } from '../../services/core/config.ts';
import { GatewaySection } from '../../services/gateway/config.ts';
import { GatewayProcessConfig } from '../../services/gateway/main.ts';

const run = promisify(execFile);
const base = { admin: { token: 'x'.repeat(16) }, models: { m: { versions: { v1: { targets: ['http://127.0.0.1:9000'] } } } } };

test('config: defaults fill a minimal gateway section', () => {
  const c = parseConfig(GatewaySection, base);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.admin.host, '127.0.0.1');
  const v = c.models.m!.versions.v1!;
  assert.deepEqual(v.targets, [{ url: 'http://127.0.0.1:9000', weight: 1 }]);
  assert.equal(v.balance, 'round_robin');
  assert.equal(v.retries, 1);
  assert.equal(v.breaker.failureRatio, 0.5);
  assert.equal(v.health, undefined);
  assert.deepEqual(c.models.m!.sticky, { kind: 'none' });
  assert.equal(c.tracing.sampleRatio, 0.01);
  assert.deepEqual(parseConfig(GatewaySection, { ...base, models: { m: { ...base.models.m, sticky: { header: 'X-User' } } } }).models.m!.sticky, { kind: 'header', header: 'x-user' });
});

test('config: invalid values are reported with their path and reason', () => {
  const two = { versions: { a: { targets: ['http://h:1'] }, b: { targets: ['http://h:2'] } } };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, models: { m: two } }, /models\.m\.weights: weights are required/],
    [{ ...base, models: { m: { ...two, weights: { a: 50, b: 40 } } } }, /models\.m\.weights: weights must sum to 100, got 90/],
    [{ ...base, models: { m: { ...two, weights: { a: 50, c: 50 } } } }, /models\.m\.weights\.c: c is not a version/],
    [{ ...base, models: { m: { ...two, weights: { a: 100, b: 0 }, fallback: 'z' } } }, /models\.m\.fallback/],
    [{ ...base, models: { m: { ...two, weights: { a: 100, b: 0 }, shadow: { version: 'q', percent: 5 } } } }, /models\.m\.shadow\.version/],
    [{ ...base, models: { m: { versions: { v1: { targets: ['ftp://x'] } } } } }, /models\.m\.versions\.v1\.targets\.0\.url: expected an http\(s\) URL/],
    [{ ...base, models: { m: { versions: { v1: { targets: [] } } } } }, /models\.m\.versions\.v1\.targets: a version needs at least one target/],
    [{ ...base, models: { m: { versions: { v1: { targets: ['http://h:1'], timeoutMs: -5 } } } } }, /models\.m\.versions\.v1\.timeoutMs/],
    [{ ...base, models: { m: { versions: { v1: { targets: ['http://h:1'], balance: 'random' } } } } }, /models\.m\.versions\.v1\.balance/],
    [{ ...base, models: { m: { versions: { v1: { targets: ['http://h:1'], breaker: { failureRatio: 2 } } } } } }, /models\.m\.versions\.v1\.breaker\.failureRatio/],
    [{ ...base, models: { 'bad name!': base.models.m } }, /models\.bad name!/],
    [{ ...base, models: {} }, /models: at least one model/],
    [{ ...base, admin: {} }, /admin\.token: required when the admin API is enabled/],
    [{ ...base, tracing: { exporter: 'otlp' } }, /tracing\.otlpUrl: required/],
    [{ ...base, maxBodyBytes: 100, models: { m: { ...base.models.m, maxBodyBytes: 200 } } }, /models\.m\.maxBodyBytes: must not exceed/],
    [{ ...base, colour: 'blue' }, /colour/],
  ];
  for (const [raw, re] of cases) assert.throws(() => parseConfig(GatewaySection, raw), re, String(re));
});

test('config: the process schema ignores other services\' sections and requires the hash key', () => {
  const c = parseConfig(GatewayProcessConfig, { gateway: base, telemetry: { hashing: { key: 'k'.repeat(16) } }, controller: { anything: 1 } });
  assert.equal(c.dataDir, './data');
  assert.equal(c.log.level, 'info');
  assert.throws(() => parseConfig(GatewayProcessConfig, { gateway: base }), /telemetry/);
});

test('config: the example in docs/examples/gateway.yaml is valid', () => {
  const file = new URL('../../docs/examples/gateway.yaml', import.meta.url).pathname;
  const c = loadConfig(GatewayProcessConfig, file, {});
  assert.deepEqual(Object.keys(c.gateway.models), ['sentiment', 'chat-model']);
  assert.equal(c.gateway.models.sentiment!.versions.v1!.targets[1]!.weight, 2);
});

test('config: `mlgate gateway` stops on an invalid file, naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-gwcfg-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, [
    'telemetry:', '  hashing:', '    key: 0123456789abcdef0123',
    'gateway:', '  admin:', '    token: 0123456789abcdef0123',
    '  models:', '    m:', '      versions:', '        a: { targets: [http://127.0.0.1:1] }', '        b: { targets: [http://127.0.0.1:2] }',
    '      weights: { a: 70, b: 20 }', '',
  ].join('\n'));
  const err = await run(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'gateway', '--config', file], { cwd: new URL('../../', import.meta.url).pathname })
    .then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(err, 'the command must fail');
  assert.equal(err.code, 1);
  assert.match(err.stderr, /MLG_CORE_CONFIG_INVALID/);
  assert.match(err.stderr, /gateway\.models\.m\.weights: weights must sum to 100, got 90/);
  const usage = await run(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'gateway'], { cwd: new URL('../../', import.meta.url).pathname })
    .then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.equal(usage?.code, 2);
  assert.match(usage!.stderr, /--config FILE is required/);
});
