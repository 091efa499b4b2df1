/** Every log line carries one `component` key, the innermost, however component loggers nest. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { componentLogger, createLogger } from '../../services/core/log.ts';

test('nested component loggers print one component key, the innermost; other bindings stay', () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const root = createLogger({ service: 'svc', destination: destination as never });
  const telemetry = componentLogger(root, 'telemetry');
  const kafka = telemetry.child({ component: 'telemetry-kafka', topic: 't1' });
  kafka.info({ n: 1 }, 'nested');
  kafka.child({ partition: 2 }).info('deeper');
  componentLogger(kafka, 'third').info('third');
  telemetry.info('outer');
  const count = (l: string) => l.match(/"component":/g)?.length ?? 0;
  assert.equal(lines.length, 4);
  for (const l of lines) assert.equal(count(l), 1, l);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(parsed.map((p) => p.component), ['telemetry-kafka', 'telemetry-kafka', 'third', 'telemetry']);
  assert.equal(parsed[1]!.topic, 't1');
  assert.equal(parsed[1]!.partition, 2);
  assert.equal(parsed[0]!.service, 'svc');
});
