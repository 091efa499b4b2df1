/**
 * The Kafka sink's classification of failed sends, on the error objects kafkajs really throws:
 * a protocol error built from its broker error code, wrapped the way its retrier wraps it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { classifySendError, protocolType } from '../../services/telemetry/kafka-errors.ts';

const require = createRequire(import.meta.url);
const kerrors = require('kafkajs/src/errors') as Record<string, new (...args: unknown[]) => Error>;
const { createErrorFromCode, errorCodes } = require('kafkajs/src/protocol/error') as {
  createErrorFromCode(code: number): Error;
  errorCodes: Array<{ type: string; code: number }>;
};

/** The kafkajs protocol error for a broker error type. */
function protocol(type: string): Error {
  const code = errorCodes.find((c) => c.type === type);
  assert.ok(code, `kafkajs knows ${type}`);
  return createErrorFromCode(code.code);
}

/** As kafkajs's retrier rethrows: retries exhausted (retriable) or gave up at once (non-retriable). */
function wrapped(e: Error): Error {
  return (e as { retriable?: boolean }).retriable
    ? new kerrors.KafkaJSNumberOfRetriesExceeded!(e, { retryCount: 8, retryTime: 1000 })
    : new kerrors.KafkaJSNonRetriableError!(e, { cause: e });
}

const CASES: Array<[string, ReturnType<typeof classifySendError>]> = [
  ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'reset'],
  ['DUPLICATE_SEQUENCE_NUMBER', 'reset'],
  ['INVALID_PRODUCER_EPOCH', 'reset'],
  ['UNKNOWN_PRODUCER_ID', 'reset'],
  ['INVALID_PRODUCER_ID_MAPPING', 'reset'],
  ['UNKNOWN_TOPIC_OR_PARTITION', 'topic'],
  ['MESSAGE_TOO_LARGE', 'reject'],
  ['RECORD_LIST_TOO_LARGE', 'reject'],
  ['INVALID_RECORD', 'reject'],
  ['INVALID_TIMESTAMP', 'reject'],
  ['NOT_LEADER_FOR_PARTITION', 'retry'],
  ['NOT_ENOUGH_REPLICAS', 'retry'],
  ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'retry'],
  ['KAFKA_STORAGE_ERROR', 'retry'],
  ['CORRUPT_MESSAGE', 'retry'],
  ['TOPIC_AUTHORIZATION_FAILED', 'retry'],
  ['REQUEST_TIMED_OUT', 'retry'],
];

for (const [type, expected] of CASES) {
  test(`kafka errors: ${type} → ${expected}, bare and as kafkajs's retrier wraps it`, () => {
    const e = protocol(type);
    assert.equal(classifySendError(e), expected);
    assert.equal(classifySendError(wrapped(e)), expected);
    assert.equal(protocolType(wrapped(e)), type);
  });
}

test('kafka errors: connection failures, timeouts and unknown errors are retried, never rejected', () => {
  assert.equal(classifySendError(new kerrors.KafkaJSConnectionError!('Connection error: ECONNREFUSED', { broker: 'b' })), 'retry');
  assert.equal(classifySendError(new kerrors.KafkaJSConnectionClosedError!('Closed connection', { host: 'h', port: 1 })), 'retry');
  assert.equal(classifySendError(new kerrors.KafkaJSRequestTimeoutError!('Request Produce(key: 0, version: 7) timed out', {})), 'retry');
  assert.equal(classifySendError(new kerrors.KafkaJSNonRetriableError!('something new')), 'retry');
  assert.equal(classifySendError(new Error('boom')), 'retry');
  assert.equal(classifySendError(undefined), 'retry');
});

test('kafka errors: a topic without metadata is a missing topic; a rejection inside an aggregate wins', () => {
  assert.equal(classifySendError(new kerrors.KafkaJSMetadataNotLoaded!('Producing to topic without metadata')), 'topic');
  const agg = new kerrors.KafkaJSAggregateError!('2 errors', [protocol('NOT_LEADER_FOR_PARTITION'), protocol('MESSAGE_TOO_LARGE')]);
  assert.equal(classifySendError(agg), 'reject');
  const both = new kerrors.KafkaJSAggregateError!('2 errors', [protocol('UNKNOWN_TOPIC_OR_PARTITION'), protocol('OUT_OF_ORDER_SEQUENCE_NUMBER')]);
  assert.equal(classifySendError(both), 'reset');
});

test('kafka errors: the type crosses a worker thread as a plain object and classifies the same', () => {
  assert.equal(classifySendError({ name: 'KafkaJSNonRetriableError', type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }), 'reset');
});
