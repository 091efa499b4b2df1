/**
 * A model version as an HTTP server on 127.0.0.1: `POST /predict` with `{ "text": "..." }` (or a
 * plain-text body) answers `{ version, label, score }` from a real model (models.ts);
 * `GET /healthz` answers 200. It can act like a worse build of the model: a share of requests
 * answered 500, and extra latency on top of its simulated inference time (a lognormal with the
 * given median and p95, so the stable and canary arms have realistic, overlapping latencies).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { CoreErrors } from '../../core/errors.ts';
import { formatIssues } from '../../core/config.ts';
import { MODEL_KINDS, loadModel } from './models.ts';

/** Options of one model server (also the `embedded.modelServers[]` config entry). */
export const ModelServerSchema = z.strictObject({
  /** Version name reported in answers (e.g. v1). */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected a version name'),
  /** Which model answers: afinn (sentiment package), vader (vader-sentiment), fixed (always neutral). */
  model: z.enum(MODEL_KINDS),
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port. */
  port: z.number().int().min(0).max(65535).default(0),
  /** Simulated inference time: lognormal median and 95th percentile, ms (0 = none). */
  latency: z.strictObject({ medianMs: z.number().min(0).max(60_000), p95Ms: z.number().min(0).max(60_000) })
    .refine((l) => l.medianMs === 0 || l.p95Ms > l.medianMs, 'p95Ms must exceed medianMs')
    .default({ medianMs: 0, p95Ms: 0 }),
  /** Fault injection: share of requests answered 500 (after the delay). */
  errorRate: z.number().min(0).max(1).default(0),
  /** Fault injection: ms added to every answer. */
  extraLatencyMs: z.number().min(0).max(60_000).default(0),
});

/** Input shape of {@link ModelServerSchema}. */
export type ModelServerInput = z.input<typeof ModelServerSchema>;
/** Parsed model server options. */
export type ModelServerOptions = z.output<typeof ModelServerSchema>;

/** A running model server. */
export interface ModelServer {
  readonly name: string;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Predictions answered (200) and injected errors (500) so far. */
  readonly stats: { readonly served: number; readonly failed: number };
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const Z95 = 1.6448536269514722;

function gaussian(): number {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) return undefined;
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** The text of a request body: `{ "text": ... }` JSON, or the body itself. */
export function textOf(body: Buffer, contentType: string | undefined): string | undefined {
  if (contentType?.includes('json')) {
    try {
      const doc = JSON.parse(body.toString('utf8')) as unknown;
      const text = doc && typeof doc === 'object' ? (doc as { text?: unknown }).text : undefined;
      return typeof text === 'string' ? text : undefined;
    } catch {
      return undefined;
    }
  }
  return body.toString('utf8');
}

/**
 * Starts a model server.
 * @throws MLG_CORE_BAD_ARGUMENT for invalid options; MLG_EMB_MODEL_PACKAGE_MISSING when the
 *   model's optional package is not installed; the listen error when the port is taken.
 */
export async function startModelServer(input: ModelServerInput): Promise<ModelServer> {
  const parsed = ModelServerSchema.safeParse(input);
  if (!parsed.success) throw CoreErrors.badArgument(`invalid model server options: ${formatIssues(parsed.error.issues)}`);
  const o = parsed.data;
  const model = await loadModel(o.model);
  const sigma = o.latency.medianMs > 0 ? (Math.log(o.latency.p95Ms) - Math.log(o.latency.medianMs)) / Z95 : 0;
  const stats = { served: 0, failed: 0 };
  const delay = () => (o.latency.medianMs > 0 ? o.latency.medianMs * Math.exp(sigma * gaussian()) : 0) + o.extraLatencyMs;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { status: 'ok', version: o.name });
    if (req.method !== 'POST' || path !== '/predict') return send(res, 404, { error: 'POST /predict or GET /healthz' });
    const body = await readBody(req);
    if (!body) return send(res, 413, { error: `body above ${MAX_BODY} bytes` });
    const text = textOf(body, req.headers['content-type']);
    if (text === undefined) return send(res, 400, { error: 'expected JSON {"text": "..."} or a text body' });
    const wait = delay();
    if (wait > 0) await sleep(wait);
    if (o.errorRate > 0 && Math.random() < o.errorRate) {
      stats.failed++;
      return send(res, 500, { error: 'model failed' });
    }
    stats.served++;
    send(res, 200, { version: o.name, ...model(text) });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    name: o.name,
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    stats,
    close: () => (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })),
  };
}
