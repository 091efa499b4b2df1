// The PromQL reader the Prometheus test relies on: selectors, matchers and grouping labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandPromql } from './grafana.ts';
import { promqlRefs, selectorText } from './promql.ts';
import { PROMETHEUS, dashboardQueries, loadDashboards, loadRules } from './support.ts';

test('selectors, matchers and grouping labels are found; functions, keywords, ranges and offsets are not selectors', () => {
  const r = promqlRefs(`
    sum by (model, version) (rate(mlgate_gateway_requests_total{outcome=~"a|b", role!="shadow"}[5m] offset 1m))
    / on (model) group_left (version)
    sum without (gateway) (rate(mlgate_gateway_requests_total[5m])) > bool 0.05
    and histogram_quantile(0.99, sum by (le) (rate(x_bucket{le="1"}[1h:1m]))) > 1e-3
    unless up{job='mlgate-gateway'} == 1 or {__name__="some_metric", a="1"} or vector(0) or time() - y`);
  assert.deepEqual(r.selectors.map((s) => s.name), ['mlgate_gateway_requests_total', 'mlgate_gateway_requests_total', 'x_bucket', 'up', 'some_metric', 'y']);
  assert.deepEqual(r.selectors[0]!.matchers, [{ label: 'outcome', op: '=~', value: 'a|b' }, { label: 'role', op: '!=', value: 'shadow' }]);
  assert.deepEqual(r.selectors[3]!.matchers, [{ label: 'job', op: '=', value: 'mlgate-gateway' }]);
  assert.deepEqual(r.selectors[4]!.matchers, [{ label: 'a', op: '=', value: '1' }]);
  assert.deepEqual(r.groupingLabels, ['model', 'version', 'le']);
  assert.equal(selectorText(r.selectors[0]!), 'mlgate_gateway_requests_total{outcome=~"a|b", role!="shadow"}');
});

test('every expression of the rules and dashboards is read, and every selector names a metric', () => {
  const exprs = [
    ...loadRules().map((r) => r.expr),
    ...loadDashboards().flatMap((d) => dashboardQueries(d.json)).filter((q) => q.datasource === PROMETHEUS && q.kind !== 'variable').map((q) => expandPromql(q.text, { model: ['m'], version: ['v1', 'v.2'], rollout: ['r'], gateway: ['g'] }, { interval: '5s', rateInterval: '20s', range: '1h' })),
  ];
  assert.ok(exprs.length > 60, `${exprs.length} expressions`);
  for (const e of exprs) {
    const r = promqlRefs(e);
    assert.ok(r.selectors.length > 0, `no selector in ${e}`);
    for (const s of r.selectors) assert.match(s.name ?? '', /^[a-z_:][a-z0-9_:]*$/, `selector without a metric name in ${e}`);
  }
});
