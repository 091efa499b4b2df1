// A CSV export of a month of 1,000,000+ events through the real CLI, in a child process whose
// peak RSS is measured: every row once, in (ts, event_id) order, one header line, and a peak that
// exceeds the same CLI's peak for a one-row query by far less than what it wrote (the export
// never holds more than one window of rows; the embedded engine itself is most of the baseline).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { uniqueName } from '../support/infra.ts';
import { HASHING, writeConfig } from './helpers.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const ROWS = 1_000_000;

test('a 1,000,000-row CSV export streams in bounded memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-audit-export-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'clickhouse');
  const database = uniqueName('exp');
  const end = Math.floor(Date.now() / 1000) * 1000;
  const seeded = await run(process.execPath, ['--import', 'tsx', 'test/audit/helpers/seed-child.ts', path, database, String(ROWS), String(end)],
    { cwd: ROOT, maxBuffer: 1 << 20 });
  const total = Number(seeded.stdout.trim());
  assert.ok(total >= ROWS, `seeded ${total}`);

  const configFile = writeConfig({
    warehouse: { engine: 'embedded', path, database, retention: { requests: 60 } }, telemetry: { hashing: HASHING }, log: { level: 'warn' },
  });
  const out = join(dir, 'requests.csv');
  const measured = async (args: string[]) => {
    const r = await run(process.execPath, ['--import', 'tsx', '--import', './test/audit/helpers/report-rss.mjs', 'services/cli/main.ts', 'audit', ...args, '-c', configFile],
      { cwd: ROOT, maxBuffer: 1 << 20 });
    return { ...r, rssKb: Number(/MAXRSS_KB (\d+)/.exec(r.stderr)?.[1]) };
  };
  const baseline = await measured(['requests', '--from', 'now-31d', '--limit', '1', '--format', 'jsonl']);
  const res = await measured(['export', '--from', 'now-31d', '--format', 'csv', '--out', out]);
  const rssKb = res.rssKb;
  assert.match(res.stderr, new RegExp(`exported ${total} rows as csv`));
  const bytes = statSync(out).size;

  let lines = 0;
  let header = '';
  let lastTs = '';
  const ids = new Set<string>();
  for await (const line of createInterface({ input: createReadStream(out), crlfDelay: Infinity })) {
    if (lines++ === 0) {
      header = line;
      continue;
    }
    const [id, ts] = line.split(',', 2) as [string, string];
    assert.ok(ts >= lastTs, `row ${lines}: ${ts} after ${lastTs}`);
    lastTs = ts;
    ids.add(id);
  }
  assert.match(header, /^"event_id","ts","gateway_id",.*"input_redacted","redactions",.*"ingested_at"$/);
  assert.equal(lines - 1, total, 'every row once');
  assert.equal(ids.size, total, 'no row twice');
  const rssMb = rssKb / 1024;
  const baseMb = baseline.rssKb / 1024;
  const outMb = bytes / (1 << 20);
  const line = `audit export: ${total} rows, ${outMb.toFixed(0)} MiB of CSV, peak RSS ${rssMb.toFixed(0)} MiB; a one-row query's peak ${baseMb.toFixed(0)} MiB`;
  t.diagnostic(line);
  console.log(`# ${line}`);
  assert.ok(rssKb > 0 && baseline.rssKb > 0, 'both children reported their peak RSS');
  assert.ok(rssMb - baseMb < outMb / 2, `the export's peak is ${(rssMb - baseMb).toFixed(0)} MiB over the baseline: not far below the ${outMb.toFixed(0)} MiB written`);
});
