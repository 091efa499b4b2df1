#!/usr/bin/env node
// The test command (`npm test`): finds the tests, makes sure Kafka and the ClickHouse server
// are up for the integration tests (starting them with scripts/infra.sh when they are not),
// and runs everything with node's built-in runner so the summary is machine-readable.
//   node scripts/test.mjs [--unit] [path-substring ...]
// Files named *.int.test.ts or under test/e2e need services; the rest are unit tests.
import { spawnSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));
const ci = process.env.CI === 'true';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const isIntegration = (f) => f.endsWith('.int.test.ts') || f.includes('/e2e/');
let files = walk(join(root, 'test')).map((f) => relative(root, f)).sort();
if (unitOnly) files = files.filter((f) => !isIntegration(f));
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (!files.length) { console.error('no test files matched'); process.exit(1); }

const env = { ...process.env };
let startedInfra = false;
if (files.some(isIntegration) && env.MLGATE_NO_INFRA !== '1') {
  const status = spawnSync('bash', ['scripts/infra.sh', 'status'], { cwd: root, stdio: 'ignore' });
  if (status.status !== 0) {
    console.error('[test] starting local Kafka and ClickHouse server (scripts/infra.sh start)');
    const r = spawnSync('bash', ['scripts/infra.sh', 'start'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      const msg = '[test] could not start the local infrastructure; integration tests need Java 17 + Maven ' +
        '(Kafka) and `apt-get install clickhouse-server`; start them by hand with `npm run infra:up`.';
      if (ci) { console.error(msg); process.exit(1); }
      console.error(msg + ' They will be skipped.');
      env.MLGATE_TEST_INFRA_MISSING = '1';
    } else startedInfra = true;
  }
}
env.MLGATE_TEST_KAFKA_BROKERS ??= `127.0.0.1:${env.MLGATE_KAFKA_PORT ?? 19092}`;
env.MLGATE_TEST_CLICKHOUSE_URL ??= `http://127.0.0.1:${env.MLGATE_CH_HTTP_PORT ?? 18123}`;

// --test-force-exit: a test file whose tests have all finished exits even if a client library
// (kafkajs reconnect timers, a socket) still holds the event loop; without it one such handle
// turns a passed file into a 10-minute timeout.
const nodeArgs = ['--import', 'tsx', '--test', '--test-force-exit', '--test-reporter=spec',
  `--test-concurrency=${env.MLGATE_TEST_CONCURRENCY ?? 2}`, `--test-timeout=${env.MLGATE_TEST_TIMEOUT_MS ?? 600000}`, ...files];
const child = spawn(process.execPath, nodeArgs, { cwd: root, env, stdio: 'inherit' });
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
if (startedInfra && env.MLGATE_KEEP_INFRA !== '1') {
  spawnSync('bash', ['scripts/infra.sh', 'stop'], { cwd: root, stdio: 'inherit' });
}
process.exit(code);
