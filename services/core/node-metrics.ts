/**
 * prom-client's default Node metrics, minus the three gauges it names `*_total`
 * (`nodejs_active_{handles,requests,resources}_total`): Prometheus reserves that suffix for
 * counters, so `promtool check metrics` refuses them. Each is the sum of the per-type gauge of
 * the same base name (`sum(nodejs_active_handles)`), so nothing is lost.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

const MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Registers the default Node metrics on `registry`, without the misnamed gauges. */
export function collectNodeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED) if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
}
