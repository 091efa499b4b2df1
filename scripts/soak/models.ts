/**
 * The soak's stand-in model versions, in their own process: v1 (stable) and v2 (canary) of a
 * sentiment model, the same model and latency, 0.2% errors each, so a correct controller promotes
 * v2. Prints `ready` once both listen.
 *
 *   node --import tsx scripts/soak/models.ts --v1 38301 --v2 38302
 */
import { parseArgs } from 'node:util';
import { startModelServer } from '../../services/embedded/stand-in/model-server.ts';

const { values } = parseArgs({ options: { v1: { type: 'string' }, v2: { type: 'string' } } });
const servers = await Promise.all((['v1', 'v2'] as const).map((name) => startModelServer({
  name, model: 'afinn', port: Number(values[name]), latency: { medianMs: 4, p95Ms: 12 }, errorRate: 0.002,
})));
console.log('ready');
const stop = () => { void Promise.all(servers.map((s) => s.close())).then(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
