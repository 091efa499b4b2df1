/**
 * The demo's load generator: an open loop of `POST /v1/models/{model}/predict` requests at a
 * steady rate (requests are started on schedule whether or not earlier ones have answered, up to
 * `maxInFlight`), with texts from the corpus and one of a few demo API keys per request. It keeps
 * counts per status and per answering version (the gateway's `x-mlgate-version` response header
 * when present, else the body's `version`).
 */
import { Pool } from 'undici';
import { CoreErrors } from '../services/core/errors.ts';
import { createCorpus } from './corpus.ts';

/** Options of {@link startLoad}. */
export interface LoadOptions {
  /** Gateway data-plane URL, e.g. http://127.0.0.1:8080. */
  url: string;
  model: string;
  /** Requests per second. */
  rps: number;
  /** Most requests waiting for an answer; past it, scheduled requests are skipped (and counted). */
  maxInFlight?: number;
  /** Corpus seed. */
  seed?: number;
  /** API keys sent as `x-api-key`, one per request in turn (none = no header). */
  apiKeys?: readonly string[];
}

/** Counts so far. */
export interface LoadStats {
  sent: number;
  /** Answers by HTTP status ('error' for a connection failure). */
  byStatus: Record<string, number>;
  /** 200 answers by the version that answered. */
  byVersion: Record<string, number>;
  /** Requests not started because `maxInFlight` were waiting. */
  skipped: number;
  /** Texts sent with planted PII. */
  withPii: number;
  inFlight: number;
}

/** A running load generator. */
export interface Load {
  readonly stats: LoadStats;
  /** Changes the rate. */
  setRps(rps: number): void;
  /** Stops sending and waits for the answers in flight. */
  stop(): Promise<void>;
}

const TICK_MS = 20;

/** Starts sending. @throws MLG_CORE_BAD_ARGUMENT for a bad rate or URL. */
export function startLoad(opts: LoadOptions): Load {
  if (!(opts.rps >= 0 && opts.rps <= 10_000)) throw CoreErrors.badArgument(`load: rps must be 0..10000, got ${opts.rps}`);
  const origin = new URL(opts.url).origin;
  const pool = new Pool(origin, { connections: 32, pipelining: 1 });
  const next = createCorpus(opts.seed ?? 1);
  const maxInFlight = opts.maxInFlight ?? 256;
  const keys = opts.apiKeys ?? [];
  const path = `/v1/models/${encodeURIComponent(opts.model)}/predict`;
  const stats: LoadStats = { sent: 0, byStatus: {}, byVersion: {}, skipped: 0, withPii: 0, inFlight: 0 };
  const pending = new Set<Promise<void>>();
  let rps = opts.rps;
  let due = 0;
  let last = performance.now();
  let stopped = false;

  const one = async (): Promise<void> => {
    const t = next();
    stats.sent++;
    if (t.pii) stats.withPii++;
    stats.inFlight++;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (keys.length) headers['x-api-key'] = keys[stats.sent % keys.length]!;
    try {
      const res = await pool.request({ method: 'POST', path, headers, body: JSON.stringify({ text: t.text }), headersTimeout: 30_000, bodyTimeout: 30_000 });
      const body = await res.body.text();
      stats.byStatus[res.statusCode] = (stats.byStatus[res.statusCode] ?? 0) + 1;
      if (res.statusCode === 200) {
        let version = res.headers['x-mlgate-version'];
        if (typeof version !== 'string') {
          try {
            version = String((JSON.parse(body) as { version?: unknown }).version ?? 'unknown');
          } catch {
            version = 'unknown';
          }
        }
        stats.byVersion[version] = (stats.byVersion[version] ?? 0) + 1;
      }
    } catch {
      stats.byStatus.error = (stats.byStatus.error ?? 0) + 1;
    } finally {
      stats.inFlight--;
    }
  };

  const timer = setInterval(() => {
    const now = performance.now();
    due += ((now - last) / 1000) * rps;
    last = now;
    while (due >= 1 && !stopped) {
      due -= 1;
      if (stats.inFlight >= maxInFlight) {
        stats.skipped++;
        continue;
      }
      const p = one();
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }, TICK_MS);
  timer.unref();

  let stopping: Promise<void> | undefined;
  return {
    stats,
    setRps: (r) => {
      if (!(r >= 0 && r <= 10_000)) throw CoreErrors.badArgument(`load: rps must be 0..10000, got ${r}`);
      rps = r;
    },
    stop: () => (stopping ??= (async () => {
      stopped = true;
      clearInterval(timer);
      await Promise.allSettled([...pending]);
      await pool.close();
    })()),
  };
}
