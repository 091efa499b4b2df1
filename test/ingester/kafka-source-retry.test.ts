/** retryRetriable (services/ingester/kafka-source.ts): the source's start survives a topic whose metadata lags its creation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryRetriable } from '../../services/ingester/kafka-source.ts';

class ProtocolError extends Error {
  constructor(message: string, readonly retriable: boolean, readonly type: string) { super(message); }
}
const unknownTopic = () => new ProtocolError('This server does not host this topic-partition', true, 'UNKNOWN_TOPIC_OR_PARTITION');

test('retriable errors are tried again until the operation succeeds; the result comes through', async () => {
  let calls = 0;
  const out = await retryRetriable(async () => {
    if (++calls < 3) throw unknownTopic();
    return 'created';
  }, Date.now() + 10_000, () => false, 1);
  assert.deepEqual([out, calls], ['created', 3]);
});

test('a retriable error wrapped as a cause is retriable too', async () => {
  let calls = 0;
  await retryRetriable(async () => {
    if (++calls < 2) throw new Error('wrapped', { cause: unknownTopic() });
  }, Date.now() + 10_000, () => false, 1);
  assert.equal(calls, 2);
});

test('other errors, a passed deadline and a stop end it with the error', async () => {
  let calls = 0;
  await assert.rejects(retryRetriable(async () => { calls++; throw new ProtocolError('bad', false, 'INVALID_REQUEST'); }, Date.now() + 10_000, () => false, 1), /bad/);
  assert.equal(calls, 1, 'not retriable: one attempt');
  calls = 0;
  await assert.rejects(retryRetriable(async () => { calls++; throw unknownTopic(); }, Date.now() + 30, () => false, 5), /does not host/);
  assert.ok(calls >= 2 && calls < 20, `retried until the deadline: ${calls}`);
  calls = 0;
  await assert.rejects(retryRetriable(async () => { calls++; throw unknownTopic(); }, Date.now() + 10_000, () => true, 1), /does not host/);
  assert.equal(calls, 1, 'stopping: no retry');
});
