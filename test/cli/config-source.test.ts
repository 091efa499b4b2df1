/** loadConfig blames each invalid value on where it came from: an environment variable or the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../../services/core/config.ts';
import { KafkaSection } from '../../services/core/config.ts';

const Schema = z.object({ kafka: KafkaSection.prefault({}), gateway: z.object({ port: z.number().int().max(65535), host: z.string() }) });

test('an invalid value set by an environment variable names the variable, one set in the file names the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mlgate.yml');
  writeFileSync(file, 'gateway:\n  port: 8080\n  host: 7\n');
  assert.throws(() => loadConfig(Schema, file, { MLGATE_CFG__gateway__port: '99999', KAFKA_BROKERS: 'nohost' }), (err: Error & { code: string; details: { issues: Array<{ source: string }> } }) => {
    assert.equal(err.code, 'MLG_CORE_CONFIG_INVALID');
    assert.match(err.message, /environment variable MLGATE_CFG__gateway__port: gateway\.port: /);
    assert.match(err.message, /environment variable KAFKA_BROKERS: kafka\.brokers\.0: expected host:port/);
    assert.match(err.message, new RegExp(`config file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: gateway\\.host: `));
    assert.doesNotMatch(err.message, /environment variable [A-Z_]+: gateway\.host/);
    assert.deepEqual(err.details.issues.map((i) => i.source).sort(), ['KAFKA_BROKERS', 'MLGATE_CFG__gateway__port', file].sort());
    return true;
  });
  // A whole section from the environment: a bad field inside it is still the variable's.
  assert.throws(() => loadConfig(Schema, file, { MLGATE_CFG__gateway: '{"port":"x","host":"h"}' }), /environment variable MLGATE_CFG__gateway: gateway\.port: /);
  // Valid values load as before, the environment winning.
  assert.equal(loadConfig(Schema, file, { MLGATE_CFG__gateway__port: '9090', MLGATE_CFG__gateway__host: 'h' }).gateway.port, 9090);
});
