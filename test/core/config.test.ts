import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig, applyEnvOverrides, KafkaSection } from '../../services/core/config.ts';
import { CoreErrors, MlgateError, catalogueEntry, defineError, errorCatalogue, errorFactory } from '../../services/core/errors.ts';
import { ERROR_CATALOGUE, type ErrorCode } from '../../services/core/error-catalogue.ts';

const Schema = z.object({
  kafka: KafkaSection.optional(),
  gateway: z.strictObject({ port: z.number().int().min(0).max(65535).default(8080) }).default({ port: 8080 }),
});

test('config: invalid value names the field path and the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'gateway:\n  port: 70000\n');
  assert.throws(() => loadConfig(Schema, file, {}), (err: unknown) => {
    assert.ok(err instanceof MlgateError);
    assert.equal(err.code, 'MLG_CORE_CONFIG_INVALID');
    assert.match(err.message, /gateway\.port: .*65535/);
    return true;
  });
});

test('config: unknown field in a strict section is rejected by name', () => {
  assert.throws(() => loadConfig(Schema, undefined, { MLGATE_CFG__gateway__prot: '1' }), /gateway: .*prot/);
});

test('config: environment overrides apply and the result is frozen', () => {
  const cfg = loadConfig(Schema, undefined, { KAFKA_BROKERS: '127.0.0.1:1, 127.0.0.1:2', MLGATE_CFG__gateway__port: '9090' });
  assert.deepEqual(cfg.kafka?.brokers, ['127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(cfg.gateway.port, 9090);
  assert.ok(Object.isFrozen(cfg.gateway));
  assert.throws(() => { (cfg.gateway as { port: number }).port = 1; });
});

test('config: an override whose path differs from a key only in case is refused, naming the variable and the key it missed', () => {
  // The section is not strict at the top: without the check the variable would be dropped in silence.
  assert.throws(() => loadConfig(Schema, undefined, { MLGATE_CFG__GATEWAY__port: '9090' }), (err: unknown) => {
    assert.ok(err instanceof MlgateError && err.code === 'MLG_CORE_CONFIG_INVALID');
    assert.match(err.message, /MLGATE_CFG__GATEWAY__port: no key "GATEWAY" at the top; keys are case-sensitive: did you mean gateway\?/);
    return true;
  });
  // Inside a strict section the key is refused by the schema, blamed on the variable.
  assert.throws(() => loadConfig(Schema, undefined, { MLGATE_CFG__gateway__Port: '9090' }), /environment variable MLGATE_CFG__gateway__Port: .*Port/);
  // A path that names no key of this service at all is another service's section: left alone.
  assert.equal(loadConfig(Schema, undefined, { MLGATE_CFG__controller__tick: '5', MLGATE_CFG__gateway__port: '9091' }).gateway.port, 9091);
});

test('config: broken YAML is reported with the file name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'gateway: [unclosed\n');
  assert.throws(() => loadConfig(Schema, file, {}), /bad\.yaml is not valid YAML/);
  assert.deepEqual(applyEnvOverrides({ a: 1 }, {}), { a: 1 });
});

test('errors: factories come from the catalogue, once per code; codes are well-formed', () => {
  assert.throws(() => defineError('MLG_CORE_CONFIG_INVALID'), /defined twice/, 'core/errors.ts took it already');
  assert.throws(() => defineError('MLG_TEST_NOT_THERE' as ErrorCode), /not in the catalogue/);
  assert.throws(() => errorFactory({ code: 'bad-code', status: 400, description: 'x', action: 'x' }), /does not match/);
  assert.equal(CoreErrors.configInvalid.status, ERROR_CATALOGUE.MLG_CORE_CONFIG_INVALID.status);
  assert.equal(CoreErrors.configInvalid.description, ERROR_CATALOGUE.MLG_CORE_CONFIG_INVALID.meaning);
  assert.equal(CoreErrors.configInvalid.action, ERROR_CATALOGUE.MLG_CORE_CONFIG_INVALID.action);
  const e = errorFactory({ code: 'MLG_TEST_SAMPLE', status: 418, description: 'sample', action: 'none' });
  const err = e('teapot', { cause: new Error('inner'), details: { field: 'x' } });
  assert.equal(err.statusCode, 418);
  assert.equal((err.cause as Error).message, 'inner');
  assert.deepEqual(err.toJSON(), { error: { code: 'MLG_TEST_SAMPLE', message: 'teapot', details: { field: 'x' } } });
  assert.ok(e.is(err));
  assert.ok(!CoreErrors.configInvalid.is(err));
  assert.equal(errorCatalogue().length, Object.keys(ERROR_CATALOGUE).length, 'the whole catalogue, whatever was imported');
  assert.deepEqual(catalogueEntry('MLG_WH_UNAVAILABLE')?.status, 503);
  assert.equal(catalogueEntry('MLG_NOPE'), undefined);
});
