/**
 * The demo's parts on their own: the two real models, the corpus (planted PII caught by the real
 * redactor, nothing else flagged), the model server over real sockets (answers, faults, bad
 * input), and the live view (in-place redraw on a TTY, plain lines elsewhere).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createCorpus, PII_SHARE } from '../../demo/corpus.ts';
import { startModelServer } from '../../services/embedded/stand-in/model-server.ts';
import { loadModel } from '../../services/embedded/stand-in/models.ts';
import { LiveView, clip, renderFrame, type Frame } from '../../demo/view.ts';
import { describeRollout } from '../../services/controller/web/describe.ts';
import type { RolloutSnapshot } from '../../services/controller/web/types.ts';
import { createRedactor } from '../../services/telemetry/redact.ts';
import { CLI_COMMAND, demoSummary } from '../../demo/summary.ts';
import type { DemoResult } from '../../demo/run.ts';

test('models: AFINN and VADER read sentiment, on one score scale', async () => {
  const afinn = await loadModel('afinn');
  const vaderModel = await loadModel('vader');
  for (const m of [afinn, vaderModel]) {
    const pos = m('I love this, it is excellent and works great!');
    const neg = m('Terrible quality, it broke and I hate it.');
    const neu = m('The box arrived on Tuesday.');
    assert.equal(pos.label, 'positive');
    assert.equal(neg.label, 'negative');
    assert.equal(neu.label, 'neutral');
    assert.ok(pos.score > 0.5 && pos.score <= 1 && neg.score < 0.5 && neg.score >= 0 && neu.score === 0.5, JSON.stringify([pos, neg, neu]));
  }
  // Two real, different models: they agree on most demo texts, not on all (measured 87.5%).
  const next = createCorpus(3);
  let agree = 0;
  for (let i = 0; i < 1000; i++) {
    const text = next().text;
    if (afinn(text).label === vaderModel(text).label) agree++;
  }
  assert.ok(agree > 750 && agree < 980, `${agree} of 1000 labels agree`);
});

test('models: a missing optional model package fails with its name; fixed needs none', async () => {
  const missing = async (name: string): Promise<{ default: unknown }> => {
    throw Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });
  };
  await assert.rejects(loadModel('vader', missing), (err: Error & { code?: string }) =>
    err.code === 'MLG_EMB_MODEL_PACKAGE_MISSING' && err.message.includes("'vader-sentiment'") && err.message.includes("'vader'"));
  await assert.rejects(loadModel('afinn', missing), /needs the package 'sentiment'/);
  assert.deepEqual((await loadModel('fixed', missing))('anything'), { label: 'neutral', score: 0.5 });
  // Any other import failure is not dressed up as a missing package.
  await assert.rejects(loadModel('afinn', async () => { throw new TypeError('boom'); }), /^TypeError: boom$/);
});

test('corpus: seeded, varied, planted PII redacted before telemetry and nothing else flagged', () => {
  const a = createCorpus(11);
  const b = createCorpus(11);
  const texts = Array.from({ length: 2000 }, () => a());
  assert.deepEqual(Array.from({ length: 2000 }, () => b()), texts);
  assert.ok(new Set(texts.map((x) => x.text)).size > 500);
  assert.deepEqual(new Set(texts.map((x) => x.kind)), new Set(['positive', 'negative', 'mixed', 'neutral', 'chat']));
  const withPii = texts.filter((x) => x.pii);
  assert.ok(Math.abs(withPii.length / texts.length - PII_SHARE) < 0.03, `${withPii.length} with PII`);
  const redactor = createRedactor({ maxChars: 2048, maskPaths: [] });
  for (const x of texts) {
    const r = redactor.redact(Buffer.from(JSON.stringify({ text: x.text })), 'application/json');
    const found = Object.values(r.counts).reduce((s, n) => s + n, 0);
    assert.equal(found > 0, x.pii, `${x.pii ? 'missed' : 'false positive'}: ${x.text}`);
    if (x.pii) assert.doesNotMatch(r.text, /@example\.com|555/);
  }
});

test('model server: predictions, health, bad input, injected errors', async (t) => {
  const ok = await startModelServer({ name: 'v3', model: 'vader' });
  const bad = await startModelServer({ name: 'v2', model: 'vader', errorRate: 1 });
  t.after(() => Promise.all([ok.close(), bad.close()]));
  const post = (url: string, body: string, type = 'application/json') => fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': type }, body });
  const r = await post(ok.url, JSON.stringify({ text: 'What a wonderful day' }));
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { version: 'v3', ...(await loadModel('vader'))('What a wonderful day') });
  assert.equal((await post(ok.url, 'plain text is fine too', 'text/plain')).status, 200);
  assert.equal((await post(ok.url, '{"nope": 1}')).status, 400);
  assert.equal((await post(ok.url, 'not json')).status, 400);
  assert.equal((await fetch(`${ok.url}/other`)).status, 404);
  assert.equal((await fetch(`${ok.url}/healthz`)).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await post(bad.url, JSON.stringify({ text: 'x' }))).status, 500);
  assert.deepEqual({ ...ok.stats }, { served: 2, failed: 0 });
  assert.deepEqual({ ...bad.stats }, { served: 0, failed: 3 });
  await assert.rejects(startModelServer({ name: 'v9', model: 'vader', latency: { medianMs: 10, p95Ms: 5 } }), { code: 'MLG_CORE_BAD_ARGUMENT' });
});

function rollout(over: Partial<RolloutSnapshot> = {}): RolloutSnapshot {
  return {
    id: 'sentiment-v2', model: 'sentiment', stable: 'v1', canary: 'v2', phase: 'progressing', weight: 20, stepIndex: 0, steps: [20, 50, 100],
    startedAt: 1_000, finishedAt: null, stepElapsedS: 12, createdAt: 1_000, etaSeconds: 8, nextTickAt: 17_000, stepDeadlineAt: 121_000,
    spec: {
      steps: [{ weight: 20, minDurationS: 10, minSamples: 100, maxDurationS: 120 }, { weight: 50, minDurationS: 10, minSamples: 100, maxDurationS: 120 }, { weight: 100, minDurationS: 10, minSamples: 100, maxDurationS: 120 }],
      metrics: [
        { name: 'error_rate', kind: 'error_rate', critical: true, tolerance: { relative: 0.05, absolute: 0.02 } },
        { name: 'latency:p95', kind: 'latency', critical: true, tolerance: { relative: 0.1, absolute: 5 } },
        { name: 'shadow_agreement', kind: 'shadow_agreement', critical: false, tolerance: { relative: 0, absolute: 0.2 } },
      ],
    },
    latestDecision: {
      decisionId: 'd7', seq: 7, at: 13_000, actor: 'controller', action: 'rollback', phase: 'rolled_back', fromWeight: 20, toWeight: 0,
      reason: 'significant regression beyond tolerance: error_rate', etaSeconds: null,
      verdicts: [{ name: 'error_rate', status: 'regressed', critical: true, statistic: 7.5, threshold: 6.21, acceptStatistic: 0, acceptThreshold: 2, summary: '' }],
      estimates: {
        error_rate: { canaryRate: 0.081, stableRate: 0, canaryRequests: 210, stableRequests: 840 },
        'latency:p95': { canaryQuantile: 71.4, stableQuantile: 40.2 },
        shadow_agreement: { disagreement: 0.185, compared: 227 },
      },
    },
    ...over,
  };
}

test('describe: the next tick and the step deadline, each labelled; step and weight agree once ended', () => {
  // Next tick 3 s away; the step (started at 1 s, maxDurationS 120) times out 107 s from now.
  const d = describeRollout(rollout(), 14_000);
  assert.equal(d.nextTick, '3 s');
  assert.equal(d.deadline, 'step times out in 1 m 47 s');
  assert.equal(describeRollout(rollout({ nextTickAt: 13_000 }), 14_000).nextTick, 'now', 'a tick that is due');
  assert.equal(describeRollout(rollout({ phase: 'paused', stepDeadlineAt: null, nextTickAt: null }), 14_000).deadline, '-');
  const promoted = describeRollout(rollout({ phase: 'promoted', weight: 100, stepIndex: 2, nextTickAt: null, stepDeadlineAt: null }), 14_000);
  assert.deepEqual([promoted.step, promoted.nextTick, promoted.deadline], ['3/3 (100%)', '-', '-']);
  assert.equal(describeRollout(rollout({ phase: 'rolled_back', weight: 0, nextTickAt: null, stepDeadlineAt: null }), 14_000).step, '1/3 (20%), rolled back');
  const line = renderFrame({ ...frame(rollout()), elapsedS: 1 }).find((l) => l.startsWith('sentiment-v2'));
  assert.match(line ?? '', /next evaluation in \S+.*step times out in/);
});

test('describe: values against tolerances, test against threshold, sample sizes and gates', () => {
  const d = describeRollout(rollout(), 14_000);
  assert.equal(d.step, '1/3 (20%)');
  assert.deepEqual(d.samples, { canary: 210, stable: 840 });
  assert.match(d.gates, /10 s.*100 canary requests/);
  const [err, lat, shadow] = d.metrics;
  assert.deepEqual(err, { name: 'error_rate', critical: true, status: 'regressed', value: 'canary 8.1% vs stable 0.0%', tolerance: '+5% +2.0pp', test: '7.50 / 6.21' });
  assert.equal(lat!.value, 'canary 71 ms vs stable 40 ms');
  assert.equal(lat!.tolerance, '+10% +5 ms');
  assert.equal(lat!.status, 'pending');
  assert.equal(shadow!.value, 'disagree 18.5% of 227');
  assert.equal(describeRollout(rollout({ latestDecision: null, stepIndex: -1 })).metrics[0]!.value, '-');
  // A latency metric on an LLM output rate: tokens/s, and the tolerance is how much lower it may be.
  const base = rollout();
  const tps = describeRollout(rollout({
    spec: { ...base.spec, metrics: [{ name: 'output_tps:p95', kind: 'latency', field: 'output_tps', direction: 'lower_is_worse', critical: true, tolerance: { relative: 0.05, absolute: 2 } }] },
    latestDecision: { ...base.latestDecision!, estimates: { 'output_tps:p95': { canaryQuantile: 31.2, stableQuantile: 48.9 } } },
  }), 14_000).metrics[0]!;
  assert.equal(tps.value, 'canary 31 tokens/s vs stable 49 tokens/s');
  assert.equal(tps.tolerance, '−5% −2 tokens/s');
  const baking = describeRollout(rollout({ phase: 'baking', weight: 100, stepIndex: 2, stepDeadlineAt: 614_000, spec: { ...rollout().spec, bake: { seconds: 600 } } }), 14_000);
  assert.equal(baking.phase, 'baking');
  assert.equal(baking.deadline, 'bake ends in 10 m 00 s');
  assert.match(baking.gates, /baking at 100% for 10 m 00 s \(previous v1 kept at 0%\)/);
});

const ESC = '\u001b';

/** A line without its ANSI sequences (ESC [ ... letter). */
function visible(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === ESC) {
      while (i < line.length && !/[A-Za-z]/.test(line[i]!)) i++;
      continue;
    }
    out += line[i];
  }
  return out;
}

class Sink extends Writable {
  text = '';
  isTTY: boolean;
  columns = 100;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function frame(r: RolloutSnapshot): Frame {
  return {
    elapsedS: 42, stage: 'rollout 1 of 2', rps: 50, rollouts: [r], history: new Map([[r.id, ['start@20%', 'rollback@0%']]]),
    load: { sent: 100, byStatus: { 200: 95, 500: 5 }, byVersion: { v1: 80, v2: 15 }, skipped: 0, withPii: 12, inFlight: 0 },
  };
}

test('view: a TTY gets the block redrawn in place, cut to the width', () => {
  const out = new Sink(true);
  const view = new LiveView({ out });
  view.draw(frame(rollout()));
  const first = out.text;
  assert.ok(!/\[\d+A/.test(first.split(ESC).join('')), 'nothing to move over yet on the first frame');
  assert.match(first, /sentiment-v2/);
  view.draw(frame(rollout({ weight: 0, phase: 'rolled_back' })));
  const second = out.text.slice(first.length);
  const lines = renderFrame(frame(rollout())).length;
  assert.ok(second.startsWith(`${ESC}[${lines}A`), JSON.stringify(second.slice(0, 12)));
  assert.match(second, /ROLLED_BACK/);
  for (const line of out.text.split('\n')) assert.ok(visible(line).length <= 99, line);
  assert.equal(clip(`${ESC}[31mabcdef${ESC}[0m`, 3), `${ESC}[31mabc${ESC}[0m`);
});

test('view: elsewhere, plain lines: each decision once, a periodic status', () => {
  const out = new Sink(false);
  const view = new LiveView({ out, statusEveryMs: 60_000 });
  view.draw(frame(rollout()));
  view.draw(frame(rollout()));
  assert.ok(!out.text.includes(ESC));
  assert.equal(out.text.match(/sentiment-v2: rollback 20% -> 0%/g)?.length, 1);
  // The start, which the latest decision no longer shows, is printed once from the history.
  assert.equal(out.text.match(/sentiment-v2: start@20% \(recorded\)/g)?.length, 1);
  assert.ok(!out.text.includes('rollback@0%'), 'the latest decision is printed in full, not as a history entry');
  assert.match(out.text, /error_rate: regressed; canary 8\.1% vs stable 0\.0%; tolerance \+5% \+2\.0pp; test 7\.50 \/ 6\.21/);
  assert.equal(out.text.match(/\| sent 100/g)?.length, 1);
  const text = renderFrame(frame(rollout())).join('\n');
  assert.match(text, /decisions: start@20% → rollback@0%/);
  assert.match(text, /load: 50 req\/s {2}sent 100 \(with PII 12\)/);
});

test('summary: the audit commands it prints run where the demo ran (npm script in a checkout, mlgate from the package)', () => {
  const result = {
    ok: true, durationS: 60, configFile: '/d/mlgate.yaml', dataDir: '/d', logFile: '/d/mlgate.log',
    load: { sent: 10, withPii: 1 },
    rollouts: [{ id: 'sentiment-v2', phase: 'rolled_back', expected: 'rolled_back', weight: 0, recorded: 3, decisions: [] }],
  } as unknown as DemoResult;
  // Under tsx (a checkout) the module is TypeScript: the npm script exists there.
  assert.equal(CLI_COMMAND, 'npm run mlgate --');
  assert.ok(demoSummary(result, { stayed: false }).includes('  npm run mlgate -- audit rollout sentiment-v2 --config /d/mlgate.yaml'));
  // An installed package has no npm script (its compiled summary uses 'mlgate': test/deploy/pack.int.test.ts).
  const lines = demoSummary(result, { stayed: false, cli: 'mlgate' });
  assert.ok(lines.includes('  mlgate audit verify --config /d/mlgate.yaml     (the decisions\' hash chain)'), lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('npm run')), lines.join('\n'));
});
