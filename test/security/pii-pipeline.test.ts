/**
 * Disguised PII through the whole embedded pipeline: gateway → telemetry → local log → ingester
 * → ClickHouse (chdb). Planted values written in every disguise the redactor knows must be
 * absent from the rows, from every file under the data directory (local log, ledger, engine
 * data), from the service logs and from the metrics; the requests themselves are answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { DEMO_CONSUMERS } from '../../demo/config.ts';
import { fold } from '../../services/telemetry/text-fold.ts';
import { startTestStack, until } from '../embedded/support.ts';

/** Planted values as they must never appear (folded, so a disguise does not hide a survivor). */
const PLANTED = ['ann.smith@example.com', '4111111111111111', 'hunter2pass', '+44 20 7946 0958'];

const BODIES: Array<[string | undefined, string]> = [
  ['application/json', JSON.stringify({ text: 'great, mail ann\u200b.smith@exam\u00adple.com or call +44\u201320\u20137946\u20130958' })],
  ['Application/JSON; charset=utf-8', JSON.stringify({ text: 'card ４１１１ １１１１ １１１１ １１１１ works', user_password: 'hunter2pass' })],
  ['application/vnd.api+json', JSON.stringify({ text: 'ann.smith＠example.com loved it', n: -4111111111111111, newPassword: 'hunter2pass' })],
  ['text/plain', JSON.stringify({ text: 'card 4111\u00a01111\u00a01111\u00a01111 and 4111.1111.1111.1111', refreshToken: 'hunter2pass' })],
  [undefined, JSON.stringify({ text: 'terrible. ann.smith\ufeff@example.com', client_secret: 'hunter2pass' })],
  // JSON that does not parse (cut short) sent as text, holding a stringified document: its pairs are escaped.
  ['text/plain', JSON.stringify({ text: 'ok', meta: JSON.stringify({ user: 'ann', password: 'hunter2pass' }) }).slice(0, -2)],
  // A log line quoting a document stringified twice (three backslashes before its quotes).
  ['text/plain', `request body was ${JSON.stringify(JSON.stringify(JSON.stringify({ api_key: 'hunter2pass' })))}`],
];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const s = statSync(p);
    return s.isDirectory() ? filesUnder(p) : s.isFile() ? [p] : [];
  });
}

function assertAbsent(where: string, text: string): void {
  const plain = fold(text).text;
  for (const p of PLANTED) assert.ok(!plain.includes(p), `${p} found in ${where}`);
  assert.ok(!plain.replace(/\D/g, '').includes('4111111111111111'), `card digits found in ${where}`);
}

test('disguised PII sent through the embedded stack is absent from ClickHouse, the data directory, logs and metrics', async (t) => {
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(s); } });
  const { rt, dataDir } = await startTestStack(t, { logger });

  const key = DEMO_CONSUMERS['web-shop']!;
  const ids: string[] = [];
  for (const [ct, body] of BODIES) {
    const res = await fetch(`${rt.urls.gateway}/v1/models/sentiment/predict`, { method: 'POST', headers: { 'x-api-key': key, ...(ct ? { 'content-type': ct } : {}) }, body });
    assert.equal(res.status, 200, await res.text());
    ids.push(res.headers.get('x-mlgate-event-id') ?? res.headers.get('x-request-id') ?? '');
  }
  // Every request's row (and any shadow copy's) reaches ClickHouse.
  const rows = await until('the rows in ClickHouse', async () => {
    const r = await rt.warehouse.query<{ input_redacted: string; redactions: Record<string, number>; route: string; model: string; consumer_id: string }>(
      "SELECT input_redacted, redactions, route, model, consumer_id FROM {db}.requests WHERE model = 'sentiment' AND role != 'shadow'");
    return r.length >= BODIES.length ? r : undefined;
  }, 60_000, 200);
  for (const row of rows) {
    assertAbsent('a requests row', JSON.stringify(row));
    assert.ok(Object.keys(row.redactions).length > 0, `redactions counted: ${row.input_redacted}`);
  }
  for (const file of filesUnder(dataDir)) assertAbsent(`file ${file}`, readFileSync(file).toString('utf8'));
  for (const url of [rt.urls.gatewayMetrics, rt.urls.ingesterMetrics, rt.urls.controllerMetrics]) {
    assertAbsent(`metrics at ${url}`, await (await fetch(url)).text());
  }
  assert.ok(logs.length > 0, 'the stack logged');
  assertAbsent('the service logs', logs.join(''));
});
