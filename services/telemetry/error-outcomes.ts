/**
 * The outcomes that count as errors of the model version (the gateway's or the upstream's fault,
 * not the caller's): the one list behind the controller's `error_rate` metric, the `errors`
 * column of requests_1m, the rollout page, the bench scenarios. Dashboards (dashboards/*.json)
 * and alert rules (alerts/*.yml) cannot import it; test/observability/error-outcomes.test.ts
 * fails when one of them spells a different set.
 */
import type { Outcome } from './event.ts';

/** Error outcomes, in the order the dashboards and rules list them. */
export const ERROR_OUTCOMES = Object.freeze(['upstream_error', 'timeout', 'circuit_open', 'no_upstream', 'internal_error'] as const) satisfies readonly Outcome[];

/** The list as SQL literals, for `outcome IN (…)`: `'upstream_error', 'timeout', …`. */
export function errorOutcomesSql(): string {
  return ERROR_OUTCOMES.map((o) => `'${o}'`).join(', ');
}
