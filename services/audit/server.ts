/**
 * The audit HTTP API (fastify, its own listener, 127.0.0.1 by default). Every route but
 * GET /healthz needs `Authorization: Bearer <token>`; reads need the `audit` role; erasure and
 * the two keyed-hash oracles (hashing a payload, checking an erasure by raw id: each tests a
 * guess against hashed PII) need the `admin` role, the oracles also within
 * `audit.hashLookupsPerMinute` per token. Lists are JSON `{ rows, next_cursor }` pages (keyset cursors: pass next_cursor
 * back as `cursor`); the export streams CSV or JSON lines in bounded memory.
 *
 * - GET  /v1/requests                     filters: consumer model version role outcome rollout gateway status from to; limit cursor
 * - GET  /v1/requests/summary             same filters; by=consumer,model,… ; limit
 * - GET  /v1/requests/export              same filters; format=csv|jsonl
 * - GET  /v1/requests/:event_id           one request, full redacted record
 * - GET  /v1/traces/:trace_id/requests    the requests of a trace (primary and shadow copies)
 * - GET  /v1/input-hashes/:hash/requests  every request with that input hash; from to limit cursor
 * - POST /v1/input-hashes     (admin)     body = a payload (any content type) → its keyed input hash
 * - GET  /v1/rollouts/:rollout_id/decisions  every decision with its evidence; limit cursor
 * - GET  /v1/admin-changes                from to actor action target model; limit cursor
 * - GET  /v1/erasures                     the erasure log: from to actor; limit cursor
 * - POST /v1/erasures         (admin)     {consumer | input_hash | subject, reason?} → the erasure record
 * - GET  /v1/erasures/check  (admin)     consumer | input_hash | subject → rows remaining, erasures
 * - GET  /v1/verify                       table? allow_unchained? → the chain verification report
 * - POST /v1/verify                       body = a report saved earlier (or a list of anchors); same
 *                                         query → the report, failing where a saved head was cut or rewritten
 * - GET  /v1/retention                    effective vs configured retention per table
 *
 * Logs carry the route pattern, status, time and the token's name: never a query string or a
 * body (they hold consumer ids and payloads). A failure of another area (the warehouse's engine
 * text, which can quote a caller's value) reaches the client as its code and catalogue
 * description only; the service log has the rest.
 */
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { controlApi } from '../core/control-api.ts';
import { errorCatalogue, MlgateError, type ErrorSpec } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { AUDIT_ROLES } from './auth.ts';
import { anchorsOf } from './verify.ts';
import type { AuditConfig } from './config.ts';
import { AuditErrors } from './errors.ts';
import { rejectUnknown, type RawInput } from './filters.ts';
import { createRateLimiter } from './rate-limit.ts';
import type { AuditService } from './service.ts';

/** Options of {@link createAuditApp}. */
export interface AuditAppOptions {
  service: AuditService;
  tokens: AuditConfig['tokens'];
  logger?: Logger;
  /** Clock of the keyed-hash rate limit (tests). */
  now?: () => number;
}

const EXPORT_TYPES = { csv: 'text/csv; charset=utf-8', jsonl: 'application/x-ndjson; charset=utf-8' } as const;

function query(req: FastifyRequest): RawInput {
  return (req.query ?? {}) as RawInput;
}

function param(req: FastifyRequest, name: string): string {
  return String((req.params as Record<string, unknown>)[name] ?? '');
}

/** Fails on any query parameter: for routes that take none, so a misspelt filter is not ignored. */
function noQuery(req: FastifyRequest, what: string): void {
  rejectUnknown(query(req), [], what);
}

let catalogue: Map<string, ErrorSpec> | undefined;

/**
 * What a client sees of an error: audit errors as they are (their messages are ours); another
 * area's error (a warehouse failure quoting the engine) as its code and catalogue description.
 */
export function clientError(err: Error & { statusCode?: number }): MlgateError {
  if (err instanceof MlgateError) {
    if (err.code.startsWith('MLG_AUD_')) return err;
    catalogue ??= new Map(errorCatalogue().map((c) => [c.code, c]));
    const spec = catalogue.get(err.code) ?? AuditErrors.internal;
    return new MlgateError(spec, spec.description);
  }
  if (err.statusCode !== undefined && err.statusCode < 500) return AuditErrors.badFilter(`invalid request: ${err.message}`);
  return AuditErrors.internal('unexpected audit failure');
}

/** Builds the audit app (not listening yet). */
export function createAuditApp(opts: AuditAppOptions): FastifyInstance {
  const { service } = opts;
  const log = opts.logger ?? silentLogger();
  const limit = createRateLimiter(service.config.hashLookupsPerMinute, opts.now);
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });

  controlApi(app, {
    name: 'audit', tokens: opts.tokens, roles: AUDIT_ROLES, logger: log, expose: clientError,
    errors: { unauthorized: AuditErrors.unauthorized, forbidden: AuditErrors.forbidden, notFound: AuditErrors.notFound, badRequest: AuditErrors.badFilter, internal: AuditErrors.internal },
  });

  const read = { config: { role: 'audit' as const } };
  // The keyed-hash oracles: admin only, and a bounded number per token per minute.
  const oracle = {
    config: { role: 'admin' as const },
    preHandler: async (req: FastifyRequest, reply: FastifyReply) => {
      const wait = limit(req.principal!.name);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw AuditErrors.rateLimited(`at most ${service.config.hashLookupsPerMinute} keyed-hash lookups per minute per token; retry in ${wait} s`, { details: { retry_after_s: wait } });
      }
    },
  };
  app.get('/v1/requests', read, (req) => service.requests(query(req)));
  app.get('/v1/requests/summary', read, async (req) => ({ rows: await service.summary(query(req)) }));
  app.get('/v1/requests/export', read, async (req, reply) => {
    const handle = await service.exportRequests(query(req));
    const stream = Readable.from(handle.chunks, { objectMode: false });
    stream.on('error', (err) => log.error({ err }, 'audit export failed mid-stream'));
    return reply
      .header('content-type', EXPORT_TYPES[handle.format])
      .header('content-disposition', `attachment; filename="requests.${handle.format}"`)
      .header('x-mlgate-export-rows', String(handle.rows))
      .send(stream);
  });
  app.get('/v1/requests/:event_id', read, async (req) => {
    noQuery(req, 'event lookup');
    return { row: await service.event(param(req, 'event_id')) };
  });
  app.get('/v1/traces/:trace_id/requests', read, async (req) => {
    noQuery(req, 'trace lookup');
    return { rows: await service.trace(param(req, 'trace_id')) };
  });
  app.get('/v1/input-hashes/:hash/requests', read, (req) => service.byInputHash({ ...query(req), input_hash: param(req, 'hash') }));
  app.register(async (raw) => {
    // The payload is hashed as the gateway hashed it: the exact bytes, whatever the content type.
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    raw.post('/v1/input-hashes', oracle, async (req) => {
      noQuery(req, 'payload hash');
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      return { input_hash: service.hashPayload(body, req.headers['content-type']) };
    });
  });
  app.get('/v1/rollouts/:rollout_id/decisions', read, (req) => service.rollout(param(req, 'rollout_id'), query(req)));
  app.get('/v1/admin-changes', read, (req) => service.adminChanges(query(req)));
  app.get('/v1/erasures', read, (req) => service.erasures(query(req)));
  app.get('/v1/erasures/check', oracle, (req) => service.verifyErasure(query(req)));
  app.post('/v1/erasures', { config: { role: 'admin' } }, async (req, reply) => {
    const body = req.body;
    if (!body || typeof body !== 'object' || Buffer.isBuffer(body) || Array.isArray(body)) {
      throw AuditErrors.badFilter('send a JSON object: {"consumer": "…"} or {"input_hash": "…"} or {"subject": "…"}, with an optional "reason"');
    }
    const { reason, ...selector } = body as Record<string, unknown>;
    if (reason !== undefined && typeof reason !== 'string') throw AuditErrors.badFilter('reason must be text', { details: { field: 'reason' } });
    const result = await service.erase(selector, { actor: req.principal!.name, reason });
    return reply.code(201).send(result);
  });
  app.get('/v1/verify', read, async (req, reply) => {
    const report = await service.verify(query(req));
    return reply.code(200).send(report);
  });
  app.post('/v1/verify', read, async (req, reply) => {
    const anchors = anchorsOf(req.body ?? null, 'the request body');
    const report = await service.verify(query(req), anchors);
    return reply.code(200).send(report);
  });
  app.get('/v1/retention', read, async (req) => {
    noQuery(req, 'retention');
    return { rows: await service.retention() };
  });
  return app;
}
