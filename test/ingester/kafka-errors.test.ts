import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { brokerUnavailable } from '../../services/ingester/kafka-source.ts';

// kafkajs is CommonJS and spreads its error classes into its exports (not visible to ESM named imports).
// (Their typings declare no constructor arguments; kafkajs's own code passes a message and options.)
type ErrorClass = new (message: string | Error, opts?: Record<string, unknown>) => Error;
const { KafkaJSConnectionError, KafkaJSGroupCoordinatorNotFound, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs as unknown as Record<string, ErrorClass>;

test('kafka source: a consumer kafkajs stopped while the broker was away is restarted; other stops stay fatal', () => {
  // What CI's 10-kill run saw: kafkajs stopped the consumer for good on this one.
  assert.equal(brokerUnavailable(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator')), true);
  assert.equal(brokerUnavailable(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED')), true);
  assert.equal(brokerUnavailable(new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('refused'), { retryCount: 10, retryTime: 5000 })), true);
  // Wrapped, as kafkajs's retrier and the source's own errors wrap them.
  assert.equal(brokerUnavailable(new KafkaJSNonRetriableError('stopped', { cause: new KafkaJSGroupCoordinatorNotFound('x') })), true);
  const coordinator = Object.assign(new KafkaJSProtocolError('The coordinator is not available'), { type: 'COORDINATOR_NOT_AVAILABLE' });
  assert.equal(brokerUnavailable(coordinator), true);
  // Not about availability: the ingester stops and says why.
  const auth = Object.assign(new KafkaJSProtocolError('Not authorized to access group'), { type: 'GROUP_AUTHORIZATION_FAILED' });
  assert.equal(brokerUnavailable(auth), false);
  assert.equal(brokerUnavailable(new Error('invalid config')), false);
  assert.equal(brokerUnavailable(undefined), false);
});
