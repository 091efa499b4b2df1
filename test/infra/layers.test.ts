/**
 * The import-boundary rule (scripts/eslint-layers.js, docs/architecture.md) through ESLint's Node
 * API: an upward, a sideways and an inner import are each reported with the packages named; the
 * imports the layers allow are not; the repository's tree reports none; and the repository's own
 * eslint.config.js runs the rule as an error on services/ and demo/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = join(import.meta.dirname, '../..');
const LAYERS_CONFIG = join(ROOT, 'scripts/eslint-layers.js');

function layersOnly(): ESLint {
  return new ESLint({ cwd: ROOT, overrideConfigFile: LAYERS_CONFIG });
}

/** The rule's messages for `code` placed at `file` (a repository path; the file need not exist). */
async function lint(file: string, code: string): Promise<string[]> {
  const [result] = await layersOnly().lintText(code, { filePath: join(ROOT, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

test('layers: an upward import is reported, naming both packages and what is allowed', async () => {
  const found = await lint('services/core/fixture.ts', "import { GatewaySection } from '../gateway/config.ts';\nexport const x = GatewaySection;\n");
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /^mlgate\/layers: core may not import gateway \(services\/gateway\/config\.ts\); core may import: no other package/);
  // The ledger sits below the controller and the audit: it may not reach up into either.
  const ledger = await lint('services/ledger/fixture.ts', "export { AuditErrors } from '../audit/errors.ts';\n");
  assert.match(ledger.join('\n'), /ledger may not import audit \(services\/audit\/errors\.ts\); ledger may import: core, warehouse/);
  // A dynamic import and a type-only import count the same.
  const dynamic = await lint('services/warehouse/fixture.ts', "export const load = () => import('../ingester/config.ts');\nexport type T = import('../ingester/config.ts').IngesterConfig;\n");
  assert.equal(dynamic.length, 2, dynamic.join('\n'));
});

test('layers: a sideways import between services is reported', async () => {
  const found = await lint('services/controller/service/fixture.ts', "import type { AuditConfig } from '../../audit/config.ts';\nexport type C = AuditConfig;\n");
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /controller may not import audit/);
  assert.match((await lint('services/ingester/fixture.ts', "import '../gateway/config.ts';\n")).join('\n'), /ingester may not import gateway/);
  // Nothing in services/ imports the demo; the demo (top level) may use the services.
  assert.match((await lint('services/embedded/fixture.ts', "import '../../demo/run.ts';\n")).join('\n'), /embedded may not import demo/);
  assert.deepEqual(await lint('demo/fixture.ts', "import '../services/embedded/embedded.ts';\n"), []);
});

test('layers: inside a package, the canary core does not import its service and the gateway roles do not import admin', async () => {
  const core = await lint('services/controller/rollout/fixture.ts', "import { RolloutManager } from '../service/rollout-manager.ts';\nexport const m = RolloutManager;\n");
  assert.equal(core.length, 1, core.join('\n'));
  assert.match(core[0]!, /services\/controller\/rollout\/fixture\.ts may not import services\/controller\/service\/rollout-manager\.ts: the canary core/);
  assert.match((await lint('services/gateway/proxy/fixture.ts', "import '../admin/api.ts';\n")).join('\n'), /may not import services\/gateway\/admin\/api\.ts/);
});

test('layers: of the gateway, only its process wiring opens a warehouse', async () => {
  const serving = await lint('services/gateway/proxy/fixture.ts', "import '../../warehouse/warehouse.ts';\n");
  assert.equal(serving.length, 1, serving.join('\n'));
  assert.match(serving[0]!, /services\/gateway\/proxy\/fixture\.ts may not import services\/warehouse\/warehouse\.ts: only the gateway process's wiring/);
  assert.equal((await lint('services/gateway/gateway.ts', "import '../warehouse/warehouse.ts';\n")).length, 1);
  assert.deepEqual(await lint('services/gateway/main.ts', "import { createWarehouse } from '../warehouse/warehouse.ts';\nexport const w = createWarehouse;\n"), []);
});

test('layers: allowed imports and packages from npm pass; a package missing from the table is reported', async () => {
  const ok = [
    "import { z } from 'zod';",
    "import { CoreErrors } from '../../core/errors.ts';",
    "import type { RoutingState } from '../../routing/state.ts';",
    "import type { ChainedWriter } from '../../ledger/chained-writer.ts';",
    "import type { Warehouse } from '../../warehouse/warehouse.ts';",
    "import { ControllerErrors } from '../errors.ts';",
    "import { tick } from '../rollout/machine.ts';",
  ].join('\n') + '\nexport const all = [z, CoreErrors, ControllerErrors, tick];\n';
  assert.deepEqual(await lint('services/controller/service/fixture.ts', ok), []);
  const stray = await lint('services/newthing/fixture.ts', "import '../core/log.ts';\n");
  assert.match(stray.join('\n'), /services\/newthing\/ is not in the layer table/);
});

test('layers: the tree as it is has no import across the layers', async () => {
  const results = await layersOnly().lintFiles(['services/**/*.ts', 'demo/**/*.ts']);
  assert.ok(results.length > 200, `linted ${results.length} files`);
  const problems = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'mlgate/layers').map((m) => `${r.filePath}:${m.line} ${m.message}`));
  assert.deepEqual(problems, []);
});

test('layers: the repository lint config runs the rule as an error on services/ and demo/', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  for (const file of ['services/core/log.ts', 'services/gateway/proxy/request-handler.ts', 'demo/run.ts']) {
    const cfg = (await eslint.calculateConfigForFile(join(ROOT, file))) as { rules: Record<string, unknown[]> };
    assert.equal(cfg.rules['mlgate/layers']?.[0], 2, `${file}: ${JSON.stringify(cfg.rules['mlgate/layers'])}`);
  }
});
