import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControllerErrors } from '../../services/controller/errors.ts';
import { DEFAULT_TOLERANCE, parseRolloutSpec } from '../../services/controller/rollout/spec.ts';

const minimal = { id: 'fraud-v2', model: 'fraud', stable: 'v1', canary: 'v2' };

function rejects(raw: unknown, path: RegExp): void {
  assert.throws(() => parseRolloutSpec(raw), (err: unknown) => {
    assert.ok(ControllerErrors.specInvalid.is(err), `expected MLG_CTL_SPEC_INVALID, got ${String(err)}`);
    assert.match(err.message, path);
    return true;
  });
}

test('a spec with only id, model, stable and canary gets the defaults', () => {
  const s = parseRolloutSpec(minimal);
  assert.deepEqual(s.steps.map((x) => x.weight), [5, 10, 25, 50, 100]);
  assert.equal(s.steps[0]!.minDurationS, 60);
  assert.equal(s.steps[0]!.minSamples, 500);
  assert.equal(s.alpha, 0.01);
  assert.equal(s.power, 0.9);
  assert.equal(s.onFailure, 'rollback');
  assert.equal(s.fallback, null);
  assert.deepEqual(s.metrics.map((m) => m.name), ['error_rate', 'latency:p95', 'latency:p99']);
  assert.deepEqual(s.metrics[0]!.tolerance, DEFAULT_TOLERANCE.error_rate);
  assert.ok(DEFAULT_TOLERANCE.error_rate.absolute > 0, 'an absolute floor, so a zero error rate can be accepted');
  assert.equal(s.metrics[0]!.ruleOut, 1.25);
  assert.equal(s.metrics[1]!.ruleOut, null);
  assert.deepEqual(s.steps[0]!.warmup, { seconds: 30, requests: 0, metrics: 'latency' });
  assert.equal(s.analysis.dispersionBlockS, 60);
  assert.ok(s.metrics.every((m) => m.critical));
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.metrics[0]), 'resolved spec is frozen');
});

test('per-step gates and metric options are honoured', () => {
  const s = parseRolloutSpec({
    ...minimal, fallback: 'v0',
    steps: [{ weight: 1, minDurationS: 300, minSamples: 50 }, 20, 100],
    stepDefaults: { maxDurationS: 900 },
    metrics: [
      { kind: 'outcome_rate', outcome: 'timeout', tolerance: { absolute: 0.001 }, critical: false },
      { kind: 'latency', quantile: 'p99', method: 'mann_whitney' },
      { kind: 'custom_sql', name: 'tokens', sql: 'SELECT avg(tokens_out) FROM requests', direction: 'higher_is_worse' },
      { kind: 'label_mix', tolerance: { absolute: 0.1 } },
    ],
  });
  assert.deepEqual(s.steps[0], { weight: 1, minDurationS: 300, minSamples: 50, maxDurationS: 900, warmup: { seconds: 30, requests: 0, metrics: 'latency' } });
  assert.equal(s.steps[1]!.minDurationS, 60);
  assert.deepEqual(s.metrics[0]!.tolerance, { relative: 0, absolute: 0.001 });
  assert.equal(s.metrics[0]!.critical, false);
  assert.equal(s.metrics[1]!.name, 'latency:p99:mw');
  assert.equal(s.fallback, 'v0');
});

test('bad specs are rejected with the field named', () => {
  rejects({ ...minimal, steps: [10, 5, 100] }, /steps\.1: weights must be strictly increasing/);
  rejects({ ...minimal, steps: [5, 50] }, /steps\.1: the last step must be 100/);
  rejects({ ...minimal, canary: 'v1' }, /canary: must differ from stable/);
  rejects({ ...minimal, alpha: 0 }, /alpha/);
  rejects({ ...minimal, id: '' }, /id/);
  rejects({ ...minimal, metrics: [{ kind: 'error_rate' }, { kind: 'error_rate' }] }, /metrics\.1\.name: duplicate/);
  rejects({ ...minimal, metrics: [{ kind: 'custom_sql', sql: 'SELECT 1', direction: 'higher_is_worse' }] }, /metrics\.0\.name: a custom_sql metric needs a name/);
  rejects({ ...minimal, metrics: [{ kind: 'label_mix', tolerance: { relative: 0.1 } }] }, /metrics\.0\.tolerance\.relative/);
  rejects({ ...minimal, metrics: [{ kind: 'latency', quantile: 'p90' }] }, /metrics\.0\.quantile/);
  rejects({ ...minimal, metrics: [{ kind: 'nope' }] }, /metrics\.0/);
  rejects({ ...minimal, steps: [{ weight: 5, minDurationS: 100, maxDurationS: 50 }, 100] }, /steps\.0\.maxDurationS/);
  rejects({ ...minimal, surprise: true }, /surprise|Unrecognized/);
});

test('warm-up per rollout and per step, dispersion block and ruleOut: resolved, and bad values named', () => {
  const s = parseRolloutSpec({
    ...minimal,
    warmup: { seconds: 20, requests: 300 },
    steps: [{ weight: 5, warmup: { seconds: 90, metrics: 'all' } }, 50, 100],
    analysis: { dispersionBlockS: 0 },
    metrics: [{ kind: 'error_rate', ruleOut: 1.5 }, { kind: 'outcome_rate', outcome: 'timeout' }],
  });
  assert.deepEqual(s.steps[0]!.warmup, { seconds: 90, requests: 300, metrics: 'all' });
  assert.deepEqual(s.steps[1]!.warmup, { seconds: 20, requests: 300, metrics: 'latency' });
  assert.equal(s.analysis.dispersionBlockS, 0);
  assert.equal(s.metrics[0]!.ruleOut, 1.5);
  assert.equal(s.metrics[1]!.ruleOut, null, 'ruleOut defaults only for error_rate');
  rejects({ ...minimal, warmup: { seconds: -1 } }, /warmup\.seconds/);
  rejects({ ...minimal, warmup: { metrics: 'errors' } }, /warmup\.metrics/);
  rejects({ ...minimal, warmup: { sconds: 5 } }, /warmup.*sconds|Unrecognized/);
  rejects({ ...minimal, steps: [{ weight: 5, maxDurationS: 60, minDurationS: 30, warmup: { seconds: 60 } }, 100] }, /steps\.0\.warmup\.seconds: the warm-up \(60s\) must be shorter/);
  rejects({ ...minimal, metrics: [{ kind: 'latency', ruleOut: 1.2 }] }, /metrics\.0\.ruleOut: latency takes detect/);
  rejects({ ...minimal, metrics: [{ kind: 'error_rate', ruleOut: 1 }] }, /metrics\.0\.ruleOut/);
  rejects({ ...minimal, analysis: { dispersionBlockS: -5 } }, /analysis\.dispersionBlockS/);
});

test('latency metrics on LLM token timing: the field, its default direction and name; a bad field or direction is named', () => {
  const s = parseRolloutSpec({
    ...minimal,
    metrics: [
      { kind: 'latency', field: 'ttft_ms', quantile: 'p95' },
      { kind: 'latency', field: 'output_tps', direction: 'lower_is_worse' },
      { kind: 'latency', field: 'output_tps', quantile: 'p50', method: 'mann_whitney' },
      { kind: 'latency', field: 'itl_mean_ms', direction: 'higher_is_worse' },
      { kind: 'latency' },
    ],
  });
  const view = s.metrics.map((m) => (m.kind === 'latency' ? [m.name, m.field, m.direction, m.quantile] : []));
  assert.deepEqual(view, [
    ['ttft_ms:p95', 'ttft_ms', 'higher_is_worse', 'p95'],
    ['output_tps:p95', 'output_tps', 'lower_is_worse', 'p95'],
    ['output_tps:p50:mw', 'output_tps', 'lower_is_worse', 'p50'],
    ['itl_mean_ms:p95', 'itl_mean_ms', 'higher_is_worse', 'p95'],
    ['latency:p95', 'latency_ms', 'higher_is_worse', 'p95'],
  ]);
  rejects({ ...minimal, metrics: [{ kind: 'latency', field: 'ttfb' }] }, /metrics\.0\.field/);
  rejects({ ...minimal, metrics: [{ kind: 'error_rate' }, { kind: 'latency', field: 'output_tps', direction: 'down' }] }, /metrics\.1\.direction/);
  rejects({ ...minimal, metrics: [{ kind: 'latency', field: 'ttft_ms' }, { kind: 'latency', field: 'ttft_ms' }] }, /metrics\.1\.name: duplicate/);
});
