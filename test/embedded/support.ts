/**
 * Helpers for the embedded-mode tests: the whole stack in this process on free ports over the
 * demo's three real model servers, in a temporary data directory removed at the end.
 */
import type { TestContext } from 'node:test';
import { silentLogger, type Logger } from '../../services/core/log.ts';
import { DEMO_VERSIONS, demoConfig } from '../../demo/config.ts';
import { startModelServer, type ModelServer } from '../../services/embedded/stand-in/model-server.ts';
import { parseEmbeddedConfig } from '../../services/embedded/config.ts';
import { startEmbedded, type RunningEmbedded } from '../../services/embedded/embedded.ts';
import { cleanup, tempDir } from './util.ts';

export { cleanup, tempDir, until } from './util.ts';

/** A running test stack. */
export interface TestStack {
  rt: RunningEmbedded;
  models: ModelServer[];
  dataDir: string;
}

/** Starts the demo's model servers and the embedded stack on free ports; stopped when the test ends (with `cleanup`: before the data directory is removed). */
export async function startTestStack(t: TestContext, opts: { shadow?: { version: string; percent: number }; logger?: Logger } = {}): Promise<TestStack> {
  const dataDir = tempDir(t, 'embedded');
  const models: ModelServer[] = [];
  for (const v of DEMO_VERSIONS) {
    const { description: _d, ...server } = v;
    models.push(await startModelServer(server));
  }
  cleanup(t, () => Promise.all(models.map((m) => m.close())));
  const cfg = parseEmbeddedConfig(demoConfig({ dataDir, models: Object.fromEntries(models.map((m) => [m.name, m.url])), anyPorts: true, shadow: opts.shadow }));
  const rt = await startEmbedded(cfg, { logger: opts.logger ?? silentLogger() });
  cleanup(t, () => rt.stop());
  return { rt, models, dataDir };
}
