/**
 * Runs wrk (Debian's /usr/bin/wrk) against a URL with a JSON POST body and parses its report:
 * requests/s and the latency percentiles of `--latency`.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What one wrk run measured. */
export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number;
}

/** Options of {@link wrk}. */
export interface WrkOptions {
  url: string;
  body: string;
  seconds: number;
  connections: number;
  threads: number;
  /**
   * Pacing: mean pause in ms each connection takes after an answer before its next request
   * (exponentially distributed, so arrivals look random). Absent = as fast as possible.
   */
  meanDelayMs?: number;
  /** Extra request headers (e.g. an API key). */
  headers?: Record<string, string>;
}

/** Parses a wrk duration such as `812.00us`, `1.23ms`, `2.00s`, `1.00m` into ms. */
export function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`cannot parse wrk duration ${text}`);
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** Parses wrk's text report. */
export function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1];
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  if (!Number.isFinite(rps) || !p50 || !p99) throw new Error(`cannot parse wrk output:\n${out}`);
  return { rps, p50Ms: toMs(p50), p99Ms: toMs(p99), requests, errors: non2xx + sockErrors };
}

/** Runs wrk once. */
export async function wrk(o: WrkOptions): Promise<WrkResult> {
  const script = join(tmpdir(), `mlgate-bench-${process.pid}.lua`);
  let lua = `wrk.method = "POST"\nwrk.body = ${JSON.stringify(o.body)}\nwrk.headers["Content-Type"] = "application/json"\n`;
  for (const [k, v] of Object.entries(o.headers ?? {})) lua += `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`;
  if (o.meanDelayMs !== undefined) {
    lua += `function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end\n`;
    lua += `function delay() return math.floor(-math.log(1 - math.random()) * ${o.meanDelayMs}) end\n`;
  }
  writeFileSync(script, lua);
  const { stdout } = await run('wrk', [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '-s', script, o.url], { maxBuffer: 1 << 20 });
  return parseWrk(stdout);
}
