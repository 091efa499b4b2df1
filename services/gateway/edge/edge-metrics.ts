/**
 * Prometheus counters of the edge, registered on the gateway's registry (so they appear on the
 * admin port's /metrics with the gateway label). Label values are bounded: reasons and results
 * are fixed sets, models and versions come from the config, consumers are configured or come
 * from verified tokens (never from an unauthenticated request).
 */
import { Counter, type Registry } from 'prom-client';

/** The edge's counters. */
export class EdgeMetrics {
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter<'consumer' | 'model'>;
  readonly schemaRejections: Counter<'model' | 'reason'>;
  readonly cache: Counter<'model' | 'version' | 'result'>;
  readonly rateStoreErrors: Counter;
  readonly tokenBudgetRefused: Counter<'budget' | 'consumer' | 'model'>;
  readonly tokenBudgetSettled: Counter<'direction'>;
  readonly tokenBudgetStoreErrors: Counter<'op'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.authFailures = new Counter({ name: 'mlgate_gateway_auth_failures_total', help: 'Requests refused for credentials (401) or permissions (403), by reason', labelNames: ['reason'], registers });
    this.rateLimited = new Counter({ name: 'mlgate_gateway_rate_limited_total', help: 'Requests refused by a rate limit (429)', labelNames: ['consumer', 'model'], registers });
    this.schemaRejections = new Counter({ name: 'mlgate_gateway_schema_rejections_total', help: 'Request bodies refused by the model input schema, by the first failing keyword', labelNames: ['model', 'reason'], registers });
    this.cache = new Counter({ name: 'mlgate_gateway_cache_total', help: 'Response cache lookups and stores by result (hit, miss, store, skip)', labelNames: ['model', 'version', 'result'], registers });
    this.rateStoreErrors = new Counter({ name: 'mlgate_gateway_rate_limit_store_errors_total', help: 'Requests let through because the shared rate-limit store (Redis) failed or was slow', registers });
    this.tokenBudgetRefused = new Counter({ name: 'mlgate_gateway_token_budget_refused_total', help: 'LLM requests refused by a tokens-per-minute budget (429), by the budget that refused (consumer or model)', labelNames: ['budget', 'consumer', 'model'], registers });
    this.tokenBudgetSettled = new Counter({ name: 'mlgate_gateway_token_budget_settled_tokens_total', help: 'Tokens moved when token reservations were settled with the real usage: returned (reserved but not used) or charged (used beyond the reservation)', labelNames: ['direction'], registers });
    this.tokenBudgetStoreErrors = new Counter({ name: 'mlgate_gateway_token_budget_store_errors_total', help: 'Token-budget calls to the shared store (Redis) that failed or were slow: reserve (the request was let through unreserved) or adjust (a settling was skipped)', labelNames: ['op'], registers });
  }
}
