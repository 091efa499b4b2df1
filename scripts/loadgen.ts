/**
 * A small load generator for the docker-compose stack: a steady open loop of predictions through
 * the gateway (demo/load.ts: corpus texts, some with planted PII, optional API keys),
 * with GET /healthz on its own port answering its counts (the compose healthcheck).
 *
 *   node --import tsx scripts/loadgen.ts --url http://gateway:8080 [--model sentiment] [--rps 20]
 *        [--api-key KEY ...] [--health-host 0.0.0.0] [--health-port 9470]
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { startLoad } from '../demo/load.ts';

const USAGE = 'usage: loadgen --url URL [--model NAME] [--rps N] [--api-key KEY ...] [--health-host HOST] [--health-port PORT]';

function options(argv: string[]): { url: string; model: string; rps: number; apiKeys: string[]; healthHost: string; healthPort: number } {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      url: { type: 'string' }, model: { type: 'string', default: 'sentiment' }, rps: { type: 'string', default: '20' },
      'api-key': { type: 'string', multiple: true, default: [] }, 'health-host': { type: 'string', default: '0.0.0.0' }, 'health-port': { type: 'string', default: '9470' },
    },
  });
  const rps = Number(values.rps);
  const healthPort = Number(values['health-port']);
  if (!values.url || !/^https?:\/\//.test(values.url)) throw new Error(`--url must be an http(s) URL\n${USAGE}`);
  if (!(rps > 0 && rps <= 10_000)) throw new Error(`--rps must be in (0, 10000]\n${USAGE}`);
  if (!(Number.isInteger(healthPort) && healthPort > 0 && healthPort < 65536)) throw new Error(`--health-port must be a port\n${USAGE}`);
  return { url: values.url, model: values.model, rps, apiKeys: values['api-key'], healthHost: values['health-host'], healthPort };
}

async function main(): Promise<void> {
  let o: ReturnType<typeof options>;
  try {
    o = options(process.argv.slice(2));
  } catch (err) {
    console.error(`loadgen: ${(err as Error).message}`);
    process.exitCode = 2;
    return;
  }
  const load = startLoad({ url: o.url, model: o.model, rps: o.rps, apiKeys: o.apiKeys });
  const health = createServer((req, res) => {
    const ok = req.url === '/healthz';
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { status: 'ok', ...load.stats } : { error: 'try /healthz' }));
  });
  health.listen(o.healthPort, o.healthHost);
  const report = setInterval(() => console.log(JSON.stringify({ msg: 'load', ...load.stats })), 30_000);
  report.unref();
  const stop = () => {
    clearInterval(report);
    health.close();
    load.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  console.log(JSON.stringify({ msg: 'loadgen started', url: o.url, model: o.model, rps: o.rps, consumers: o.apiKeys.length }));
}

void main();
