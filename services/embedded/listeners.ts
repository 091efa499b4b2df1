/**
 * The embedded process's extra HTTP listeners: the rollout page (on its own port, since the
 * controller's API does not mount it) and the audit API (so decisions and requests can be queried
 * while the process holds the embedded engine's data path, which `mlgate audit` cannot open then).
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { createAuditApp } from '../audit/server.ts';
import { createAuditService } from '../audit/service.ts';
import type { AuditConfig } from '../audit/config.ts';
import type { Logger } from '../core/log.ts';
import { componentLogger } from '../core/log.ts';
import type { Hasher } from '../telemetry/hash.ts';
import type { Retention } from '../warehouse/config.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { registerRolloutPage } from '../controller/web/rollout-page.ts';
import { ControllerErrors } from '../controller/errors.ts';
import { controlApi } from '../core/control-api.ts';
import type { RolloutSource } from '../controller/web/types.ts';

/** A started listener. */
export interface Listener {
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

function urlOf(addr: AddressInfo): string {
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}

/** Serves the rollout page on host:port (GET /ui/). */
export async function startRolloutPage(opts: {
  host: string; port: number; warehouse: Warehouse; rollouts: RolloutSource; logger: Logger;
  /** The gateway's configured model names (the page shows no others, besides rollouts'). */
  models?: () => Iterable<string>;
}): Promise<Listener> {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  // The page is read-only and open (no tokens, as on the controller's port); 404, health and the
  // error handler are the control-plane APIs' own.
  controlApi(app, {
    name: 'rollout page', tokens: [], roles: [],
    errors: { unauthorized: ControllerErrors.unauthorized, forbidden: ControllerErrors.forbidden, notFound: ControllerErrors.notFound, badRequest: ControllerErrors.badRequest, internal: ControllerErrors.internal },
  });
  registerRolloutPage(app, { warehouse: opts.warehouse, rollouts: opts.rollouts, logger: componentLogger(opts.logger, 'rollout-page'), ...(opts.models ? { models: opts.models } : {}) });
  app.get('/', async (_req, reply) => reply.redirect('/ui/'));
  await app.listen({ host: opts.host, port: opts.port });
  return { url: urlOf(app.server.address() as AddressInfo), close: () => app.close() };
}

/** Serves the audit API on audit.host:audit.port over the shared warehouse. */
export async function startAuditApi(opts: { audit: AuditConfig; retention: Retention; warehouse: Warehouse; hasher: Hasher; logger: Logger }): Promise<Listener> {
  const service = createAuditService({
    warehouse: opts.warehouse, audit: opts.audit, retention: opts.retention, hasher: opts.hasher, logger: componentLogger(opts.logger, 'audit'),
  });
  const app = createAuditApp({ service, tokens: opts.audit.tokens, logger: componentLogger(opts.logger, 'audit-http') });
  await app.listen({ host: opts.audit.host, port: opts.audit.port });
  return { url: urlOf(app.server.address() as AddressInfo), close: () => app.close() };
}
