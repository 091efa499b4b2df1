/**
 * What usage injection costs on the gateway's request thread, per streamed request and per
 * chunk: the request body rewritten with `stream_options.include_usage` (forward.ts shapeFor),
 * and the client's stream rewritten chunk by chunk (sse-usage.ts UsageStripper: the
 * `"usage":null` member cut from every chunk, the usage chunk dropped), side by side with the
 * same stream passed through untouched (what relay.ts does without injection). In-process, no
 * sockets: this isolates the added work, which a wrk run over the network would bury in noise.
 *
 *   node --import tsx bench/gateway-usage.ts [--chunks 200] [--rounds 15] [--requests 2000]
 *
 * Streams are OpenAI's shape (llm-stub.ts chatStream), one event per network chunk, as OpenAI
 * and vLLM flush them. Prints median µs per request and per chunk; writes
 * bench/results/gateway-usage.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from 'simple-statistics';
import { UsageStripper } from '../services/gateway/proxy/sse-usage.ts';
import { chatStream } from '../test/gateway/llm-stub.ts';

const { values } = parseArgs({ options: { chunks: { type: 'string', default: '200' }, rounds: { type: 'string', default: '15' }, requests: { type: 'string', default: '2000' } } });
const CHUNKS = Number(values.chunks);
const ROUNDS = Number(values.rounds);
const REQUESTS = Number(values.requests);

const pieces = Array.from({ length: CHUNKS }, (_, i) => ` word${i}`);
const injected = chatStream('gpt-4o-mini-2024-07-18', pieces, true).map((s) => Buffer.from(s));
const plain = chatStream('gpt-4o-mini-2024-07-18', pieces, false).map((s) => Buffer.from(s));
const requestJson = { model: 'chat', stream: true, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Write a haiku about gateways. '.repeat(8) }], temperature: 0.2 };
let sink = 0;

/** Baseline: the relay hands every chunk on as it came. */
function passThrough(): void {
  for (let r = 0; r < REQUESTS; r++) for (const c of plain) sink += c.length;
}

/** Injection: body rewrite once, then every chunk through the stripper. */
function withInjection(): void {
  for (let r = 0; r < REQUESTS; r++) {
    const so = (requestJson as Record<string, unknown>).stream_options;
    const body = Buffer.from(JSON.stringify({ ...requestJson, stream_options: { ...(so as object | undefined), include_usage: true } }));
    sink += body.length;
    const s = new UsageStripper();
    for (const c of injected) {
      const out = s.push(c);
      if (out) sink += out.length;
    }
    sink += s.end()?.length ?? 0;
  }
}

/** Check once that the stripped stream is the plain one, byte for byte. */
{
  const s = new UsageStripper();
  const out = Buffer.concat(injected.map((c) => s.push(c) ?? Buffer.alloc(0)));
  if (!out.equals(Buffer.concat(plain))) throw new Error('the stripped stream differs from the plain one');
}

const time = (f: () => void): number => {
  const t0 = process.cpuUsage();
  f();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / REQUESTS; // µs of CPU per request
};
time(passThrough);
time(withInjection); // warm-up
const base: number[] = [];
const inj: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  base.push(time(passThrough));
  inj.push(time(withInjection));
}
const added = median(inj.map((v, i) => v - base[i]!));
const result = {
  date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? '', loadavg: loadavg(),
  chunks: CHUNKS + 3, rounds: ROUNDS, requests: REQUESTS,
  pass_through_us_per_request: median(base),
  injection_us_per_request: median(inj),
  added_us_per_request: added,
  added_us_per_chunk: added / (CHUNKS + 3),
  ratio: median(inj) / Math.max(median(base), 1e-9),
};
console.log(`usage injection, ${CHUNKS + 3} chunks per stream, median of ${ROUNDS} rounds x ${REQUESTS} streams (CPU µs):`);
console.log(`  pass-through      ${result.pass_through_us_per_request.toFixed(2)} per request`);
console.log(`  with injection    ${result.injection_us_per_request.toFixed(2)} per request`);
console.log(`  added             ${added.toFixed(2)} per request = ${result.added_us_per_chunk.toFixed(3)} per chunk (goal: <= 30 per request, <= 1 per chunk)`);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}gateway-usage.json`, `${JSON.stringify(result, null, 2)}\n`);
if (sink < 0) console.log(sink);
