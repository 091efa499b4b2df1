/**
 * Child process for the gateway benchmark: runs ONE server so each side of the comparison has
 * its own event loop, and prints `{"url": ...}` (or `{"urls": [...]}`) on stdout when listening.
 *   node --import tsx bench/gateway/server.ts standin            two stand-in models (ports A, B)
 *   node --import tsx bench/gateway/server.ts bare <upstream>    node:http + undici Pool pass-through
 *   node --import tsx bench/gateway/server.ts bare_cluster <upstream> [n]  the same pass-through in
 *       n (default 2) node:cluster workers sharing one port (the primary only hands out connections)
 *   node --import tsx bench/gateway/server.ts gateway <a> <b>    the mlgate gateway, 90/10 over a, b
 *   node --import tsx bench/gateway/server.ts gateway-without:events,metrics <a> <b>
 *       the gateway with parts of its per-request work replaced by no-ops (an ablation: what each
 *       part costs; see ABLATIONS)
 *   ... gateway+kafka, gateway_edge+thread_kafka, ...: the same with a real sink instead of the
 *       counting one: `kafka` on the main thread, `thread_kafka` in the telemetry thread (the
 *       event worker on), on the broker at BENCH_KAFKA_BROKERS (default 127.0.0.1:19092)
 * Each line written to its stdin is answered with `{"cpuUs": N}`: CPU time used so far, so the
 * parent can compute CPU per request (robust on a shared machine, unlike requests/s); for
 * `bare_cluster` the primary and its workers together (read from /proc).
 * It exits when stdin closes (the parent went away) or on SIGTERM.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createApiKey } from '../../services/gateway/edge/api-keys.ts';
import { parseConfig } from '../../services/core/config.ts';
import { GatewaySection } from '../../services/gateway/config.ts';
import { startGateway } from '../../services/gateway/gateway.ts';
import { createHasher } from '../../services/telemetry/hash.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import type { TelemetryEvent } from '../../services/telemetry/event.ts';
import type { SinkStats, TelemetrySink } from '../../services/telemetry/sink.ts';
import { ResponseCapture } from '../../services/gateway/proxy/exchange-record.ts';
import { GatewayMetrics } from '../../services/gateway/observability/metrics.ts';
import { TelemetryStage } from '../../services/telemetry/event-stage.ts';
import { RequestTracer, type TraceHandle } from '../../services/gateway/observability/tracing.ts';
import { treeCpuUs } from './proc-cpu.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { TelemetrySection } from '../../services/telemetry/config.ts';
import { createSink } from '../../services/telemetry/factory.ts';
import { ThreadedSink } from '../../services/telemetry/threaded-sink.ts';

const [kind, ...args] = process.argv.slice(2);
const ANSWER = Buffer.from(JSON.stringify({ label: 'positive', score: 0.93, model: 'sentiment', latency_ms: 0 }));

/** A fast stand-in model: fixed JSON, any path. */
function standIn(): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': ANSWER.length });
      res.end(ANSWER);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length', 'upgrade', 'te', 'trailer', 'proxy-connection']);

/** The baseline: what a minimal correct pass-through proxy on undici does. */
function bareProxy(upstream: string, port = 0): Promise<string> {
  const pool = new Pool(upstream, { connections: 128 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string | string[]> = {};
      for (const k in req.headers) if (!HOP.has(k)) headers[k] = req.headers[k]!;
      pool.request({ method: req.method as 'POST', path: req.url!, headers, body: chunks.length ? Buffer.concat(chunks) : null }).then(
        (up) => {
          const h = up.headers as Record<string, string | string[]>;
          delete h.connection; delete h['keep-alive']; delete h['transfer-encoding'];
          res.writeHead(up.statusCode, h);
          up.body.on('data', (c: Buffer) => { if (!res.write(c)) up.body.pause(); });
          res.on('drain', () => up.body.resume());
          up.body.on('end', () => res.end());
          up.body.on('error', () => res.destroy());
        },
        () => { res.writeHead(502); res.end(); },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const s = createNetServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

/**
 * `bare_cluster`: the bare proxy in `n` node:cluster workers on one port (node's default
 * round-robin: the primary accepts and hands each new connection to a worker in turn), as
 * `gateway.workers` runs the gateway. The primary resolves with the URL once every worker
 * listens; a worker (this same file, forked with the same arguments) never returns.
 */
async function bareCluster(upstream: string, n: number): Promise<string> {
  if (cluster.isWorker) {
    await bareProxy(upstream, Number(process.env.BENCH_BARE_PORT));
    process.send?.('listening');
    return new Promise<string>(() => {});
  }
  const port = await freePort();
  // The workers would exit on their own once the IPC channel closes; this takes them along at once.
  process.on('exit', () => { for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL'); });
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
    const w = cluster.fork({ BENCH_BARE_PORT: String(port) });
    w.once('message', () => resolve());
    w.once('exit', (code) => reject(new Error(`bare_cluster worker exited with ${code}`)));
  })));
  return `http://127.0.0.1:${port}`;
}

/** Counts events and discards them (the gateway still builds each one: hashes, redaction). */
class CountingSink implements TelemetrySink {
  private n = 0;
  emit(_e: TelemetryEvent): void { this.n++; }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  stats(): SinkStats { return { queued: 0, sent: this.n, spilled: 0, replayed: 0, dropped: 0, errors: 0 }; }
}

/** Accepts spans and drops them (the SDK's batching and export path still run). */
class DroppingExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (r: { code: number }) => void): void { this.exported += spans.length; done({ code: 0 }); }
  async shutdown(): Promise<void> {}
}

/** The edge of the `gateway_edge` variant: one API-key consumer with a rate limit far above the load. */
function edgeSection(hash: string): Record<string, unknown> {
  return {
    consumers: { bench: { keys: [hash], models: ['sentiment'], limits: { requests: { requestsPerSecond: 1_000_000, burst: 1_000_000 } } } },
    auth: { apiKeys: true },
    rateLimits: { store: 'local' },
  };
}

/** The `+kafka` sides' sink: the Kafka sink (its spill in a temp dir) on the main thread, on the broker named by BENCH_KAFKA_BROKERS. */
async function kafkaSink(): Promise<TelemetrySink> {
  const brokers = (process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  const dataDir = mkdtempSync(join(tmpdir(), 'mlgate-bench-sink-'));
  const telemetry = parseConfig(TelemetrySection, { topic: `bench-${process.pid}`, partitions: 1, hashing: { key: 'bench-hash-key-0123456789', keyId: 'k1' } });
  return createSink({ telemetry, kafka: { brokers, clientId: 'bench' }, dataDir, logger: pino({ level: 'warn' }, pino.destination(2)) });
}

/** The `+thread_kafka` sides' sink: the Kafka sink in the telemetry thread, as `mlgate gateway` runs it with the event worker on. */
async function threadedKafkaSink(): Promise<TelemetrySink> {
  const brokers = (process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  const hasher = { key: 'bench-hash-key-0123456789', keyId: 'k1' };
  const redactor = { maxChars: 2048 };
  const telemetry = parseConfig(TelemetrySection, { topic: `bench-${process.pid}`, partitions: 1, hashing: hasher });
  return ThreadedSink.start({
    gatewayId: 'bench', hasher, redactor, hasherInstance: createHasher(hasher), redactorInstance: createRedactor(redactor), telemetry,
    kafka: { brokers, clientId: 'bench', connectionTimeoutMs: 3000, requestTimeoutMs: 30_000 }, dataDir: mkdtempSync(join(tmpdir(), 'mlgate-bench-sink-')),
    service: 'bench', logLevel: 'warn', logger: pino({ level: 'warn' }, pino.destination(2)),
  });
}

async function gateway(a: string, b: string, edge?: Record<string, unknown>, eventWorker = false, sink: TelemetrySink = new CountingSink()): Promise<string> {
  // eventWorker only names what the sink is (a ThreadedSink is made by the caller, as `mlgate gateway` does).
  const config = parseConfig(GatewaySection, {
    ...edge,
    port: 0,
    admin: { port: 0, token: 'bench-admin-token-0123456789' },
    tracing: { sampleRatio: 0.01 },
    eventWorker,
    models: {
      sentiment: {
        versions: { stable: { targets: [a] }, canary: { targets: [b] } },
        weights: { stable: 90, canary: 10 }, fallback: 'stable',
        prediction: { label: 'label', score: 'score' },
      },
    },
  });
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DroppingExporter())] });
  const hasher = { key: 'bench-hash-key-0123456789', keyId: 'k1' };
  const redactor = { maxChars: 2048 };
  const gw = await startGateway({
    config, sink, hasher: createHasher(hasher), redactor: createRedactor(redactor), tracerProvider: provider, gatewayId: 'bench',
  });
  return gw.url;
}

const FIXED_TRACE: TraceHandle = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: false, span: undefined };
const noop = (): void => {};

/**
 * Ablations for `gateway-without:<part>,...` (benchmark only; the gateway has no such switches):
 * each part of the per-request work is replaced by a no-op on its class's prototype in this
 * process, so the CPU it costs shows as the difference to the full gateway.
 */
const ABLATIONS: Record<string, () => void> = {
  /** Building and handing over the telemetry event (hashes, redaction, prediction summary). */
  events: () => { TelemetryStage.prototype.submit = noop; },
  /** The four request-path series (requests, duration, upstream duration, time to first byte). */
  metrics: () => {
    const m = GatewayMetrics.prototype;
    m.countRequest = noop; m.observeDuration = noop; m.observeUpstream = noop; m.observeTtfb = noop;
  },
  /** traceparent parsing, sampling and fresh ids: every request gets the same unsampled ids. */
  tracing: () => { RequestTracer.prototype.begin = () => FIXED_TRACE; },
  /** Keeping the response bytes for the event (only meaningful with `events`). */
  capture: () => { ResponseCapture.prototype.add = noop; },
};

async function main(): Promise<void> {
  let out: unknown;
  if (kind === 'standin') out = { urls: [await standIn(), await standIn()] };
  else if (kind === 'bare') out = { url: await bareProxy(args[0]!) };
  else if (kind === 'bare_cluster') out = { url: await bareCluster(args[0]!, Number(args[1] ?? 2)) };
  else if (kind?.startsWith('gateway')) {
    // <base>[+<sink>]: base gateway | gateway_edge | gateway-without:<parts>;
    // sink (default: a counting sink) kafka = the Kafka sink on the main thread, thread_kafka =
    // the Kafka sink in the telemetry thread (what `mlgate gateway` runs with the event worker on).
    const [base, sinkKind] = kind.split('+') as [string, string | undefined];
    if (base.startsWith('gateway-without:')) {
      for (const part of base.slice('gateway-without:'.length).split(',')) {
        const ablate = ABLATIONS[part];
        if (!ablate) throw new Error(`unknown ablation ${part} (one of ${Object.keys(ABLATIONS).join(', ')})`);
        ablate();
      }
    } else if (!['gateway', 'gateway_edge'].includes(base)) throw new Error(`unknown server kind ${kind}`);
    const sink = sinkKind === undefined ? undefined : sinkKind === 'kafka' ? await kafkaSink() : sinkKind === 'thread_kafka' ? await threadedKafkaSink() : undefined;
    if (sinkKind !== undefined && !sink) throw new Error(`unknown sink ${sinkKind} (kafka, thread_kafka)`);
    const eventWorker = sinkKind === 'thread_kafka';
    if (base === 'gateway_edge') {
      const k = createApiKey();
      out = { url: await gateway(args[0]!, args[1]!, edgeSection(k.hash), eventWorker, sink), key: k.key };
    } else out = { url: await gateway(args[0]!, args[1]!, undefined, eventWorker, sink) };
  }
  else throw new Error(`unknown server kind ${kind}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  // Each line on stdin asks for the CPU time used so far (µs, user + system, all threads).
  let buf = '';
  process.stdin.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      buf = buf.slice(nl + 1);
      const u = process.cpuUsage();
      const cpuUs = kind === 'bare_cluster' ? treeCpuUs(process.pid) : u.user + u.system;
      process.stdout.write(`${JSON.stringify({ cpuUs })}\n`);
    }
  });
  process.stdin.on('close', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

await main();
